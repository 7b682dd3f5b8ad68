"""Filling in the signup form as a browser does (cookie, CSRF field), and the links of the mails
the web app sends."""

from __future__ import annotations

import re
from typing import Any

import httpx

FETCHED_AT = "2026-11-22T11:00:00+00:00"
FORM = {
    "email": "Researcher@Example.org",
    "keywords": "kv cache, quantization",
    "exclude": "",
    "timezone": "Europe/Berlin",
    "send_at": "06:00",
    "frequency": "daily",
    "weekly_day": "0",
    "max_papers": "5",
}


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def signup(client: httpx.Client, **changes: str) -> httpx.Response:
    token = csrf_of(client.get("/"))
    return client.post("/subscribe", data={**FORM, **changes, "csrf": token})


def link_in(mail: Any, kind: str) -> str:
    text = mail.get_body(("plain",)).get_content()
    match = re.search(rf"(http://127\.0\.0\.1:\d+/{kind}/\S+)", text)
    assert match, f"a /{kind}/ link in the mail"
    return match.group(1)


def signup_at(url: str, email: str, **changes: str) -> httpx.Response:
    """Fill in the signup form as a browser would (cookie, CSRF field)."""
    with httpx.Client(base_url=url, timeout=10) as client:
        form = {"csrf": csrf_of(client.get("/")), "email": email, "keywords": "kv cache"}
        form |= {"timezone": "UTC", "send_at": "08:00", **changes}
        return client.post("/subscribe", data=form)
