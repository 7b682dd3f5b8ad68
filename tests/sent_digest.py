"""A project that fetched the seeds and sent its reader one digest, and the links in that mail."""

from __future__ import annotations

import re
from typing import Any

from conftest import Project

NOW = "2026-11-22T12:00:00+00:00"
PERSON = "reader@example.org"


def send_first_digest(project: Project) -> Any:
    project.ok("fetch", "--now", NOW)
    project.ok(
        "subscribers",
        "add",
        PERSON,
        "--keywords",
        "kv cache, long context",
        "--send-at",
        "00:00",
        "--max-papers",
        "5",
    )
    project.ok("send", "--now", NOW)
    [mail] = project.mails()
    return mail


def vote_links(mail: Any) -> list[str]:
    text = mail.get_body(("plain",)).get_content()
    return re.findall(r"(?:More|Less) like this: (http://127\.0\.0\.1:\d+/vote/\S+)", text)


def link(mail: Any, label: str) -> str:
    text = mail.get_body(("plain",)).get_content()
    match = re.search(rf"^{re.escape(label)}: (http://127\.0\.0\.1:\d+/\S+)$", text, re.M)
    assert match, f"the text part has a '{label}' link"
    return match.group(1)
