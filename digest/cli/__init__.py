"""The `digest` command: thin typer commands that call digest.app and print."""

from digest.cli.main import app, main

__all__ = ["app", "main"]
