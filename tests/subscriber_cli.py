"""What the tests of `digest subscribers ...` share: reading its output and stored rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Project

HEADER = "email,keywords,exclude,timezone,send_at,max_papers,frequency,weekly_day,status\n"
VOLATILE = {
    "public_id",
    "next_send_at",
    "id",
    "created_at",
    "updated_at",
    "confirmed_at",
    "confirmation_sent_at",
}


def listed(project: Project, *args: str) -> list[dict[str, Any]]:
    """`subscribers list --json` as data."""
    data: list[dict[str, Any]] = json.loads(project.ok("subscribers", "list", "--json", *args).out)
    return data


def shown(project: Project, email: str) -> dict[str, Any]:
    """`subscribers show EMAIL --json` as data."""
    data: dict[str, Any] = json.loads(project.ok("subscribers", "show", email, "--json").out)
    return data


def table(project: Project) -> list[tuple[Any, ...]]:
    """Every subscriber row exactly as stored."""
    if not project.db.exists():
        return []
    return project.query("select * from subscriber order by email")


def one_error_line(result: Any, message: str) -> str:
    """The single stderr line of a failed command, which must contain `message`."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert message in lines[0], result.err
    assert "Traceback" not in result.err
    return str(lines[0])


def usage_or_check_error(message: str) -> int:
    """The exit code: 2 when click refuses a choice before the command runs, else 1."""
    return 2 if "is not one of" in message else 1


def write(project: Project, name: str, text: str) -> Path:
    path = project.root / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def add_alice(project: Project) -> None:
    project.ok(
        "subscribers",
        "add",
        "Alice@Example.org",
        "--keywords",
        "rlhf; kv cache",
        "--exclude",
        "video",
        "--timezone",
        "Europe/Berlin",
        "--send-at",
        "7:30",
        "--max-papers",
        "4",
        "--frequency",
        "weekly",
        "--weekly-day",
        "fri",
    )
