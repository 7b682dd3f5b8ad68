"""The subscription web app (FastAPI, served by uvicorn)."""

from digest.web.app import create_app

__all__ = ["create_app"]
