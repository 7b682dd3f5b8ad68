"""The pages and endpoints of the subscription web app."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from digest.errors import ValidationError
from digest.models import Frequency, Subscriber, SubscriberStatus, Suppression
from digest.safe_text import has_unsafe
from digest.subscriptions import lifecycle as signup
from digest.subscriptions import moving, restart
from digest.subscriptions.preferences import resume_day
from digest.subscriptions.votes import lookup_papers, not_found, whole_titles
from digest.vocabulary import counted, long_day
from digest.web.context import MAX_FORM_FIELD, WebContext
from digest.web.limits import client_key
from digest.web.security import CSRF_COOKIE

router = APIRouter()
HONEYPOT = "website"  # hidden from people by CSS; bots fill in every field
SIGNUP_FLOOR = 0.25  # seconds every signup answer takes at least


def ctx(request: Request) -> WebContext:
    """The app's WebContext."""
    return request.app.state.web  # type: ignore[no-any-return]


async def read_form(request: Request) -> dict[str, str]:
    """The posted form as plain strings; oversized fields are refused."""
    form = await request.form(max_files=0, max_fields=40)
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    for name, value in data.items():
        if len(value) > MAX_FORM_FIELD:
            raise ValidationError(f"the {name} field is too long ({len(value)} characters)")
        if has_unsafe(value.replace("\r", "")):  # a NUL: PostgreSQL would refuse the query
            raise ValidationError(f"the {name} field holds control characters: type plain text")
        if "\ufffd" in value:  # what bytes that are not UTF-8 were decoded to: no one types it
            raise ValidationError(
                f"the {name} field was not sent as UTF-8 text: type it again in the page"
            )
    return data


def preferences_from(form: dict[str, str]) -> signup.Preferences:
    """Preferences typed into a form; a non-number paper count is a ValidationError."""
    try:
        size = int(form.get("max_papers") or 10)
    except ValueError:
        raise ValidationError("papers per digest must be a number") from None
    return signup.Preferences(
        keywords=form.get("keywords", ""),
        exclude=form.get("exclude", ""),
        timezone=form.get("timezone") or "UTC",
        send_at=form.get("send_at") or "08:00",
        frequency=form.get("frequency") or Frequency.DAILY,
        weekly_day=form.get("weekly_day") or "0",
        max_papers=size,
        trending=_number(form.get("trending") or "0.1", "the trending weight"),
        trending_box=form.get("trending_box") == "on",
        grouped=form.get("layout", "grouped") != "flat",
    )


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"{what} must be a number from 0 to 1") from None


def forbidden(request: Request) -> HTMLResponse:
    """The answer to a form posted without a valid CSRF token; without the page's cookie
    reloading cannot help, so that case says what will."""
    message = "this form has expired or did not come from this site: reload the page and try again"
    if CSRF_COOKIE not in request.cookies:
        message = (
            "this form needs the cookie this site sets to know the form came from its page, "
            "and your browser did not send it: allow cookies for this site, reload the page "
            "and try again"
        )
    return ctx(request).page(request, "error", status=403, message=message)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    """The signup form."""
    return ctx(request).page(request, "index", values={})


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe(request: Request) -> HTMLResponse:
    """Start a subscription: pending until the emailed link is followed."""
    web = ctx(request)
    started = time.monotonic()
    form = await read_form(request)
    if not web.csrf_valid(request, form):
        return forbidden(request)
    typed = form.get("email", "").strip()
    if form.get(HONEYPOT):  # a field people never see: a bot filled it in
        return await _answer_after(started, web.page(request, "check_inbox", email=typed))
    if not web.guard.signup(client_of(request)):
        return web.too_many(request, "signups")
    try:
        # sending the confirmation mail blocks: keep it off the event loop
        signed_up = await run_in_threadpool(
            signup.subscribe,
            web.store,
            web.mailer,
            typed,
            preferences_from(form),
            web.clock(),
        )
    except ValidationError as exc:
        return web.page(request, "index", status=400, error=str(exc), values=form)
    page = web.page(request, "check_inbox", email=signed_up.email)
    return await _answer_after(started, page)


async def _answer_after(started: float, response: HTMLResponse) -> HTMLResponse:
    """The response, not before SIGNUP_FLOOR seconds: new, pending and active addresses (and
    bots) take the same time, so timing does not tell them apart."""
    await asyncio.sleep(max(0.0, SIGNUP_FLOOR - (time.monotonic() - started)))
    return response


def client_of(request: Request) -> str:
    """The client limits count against (the proxy's, unless the server trusts its headers)."""
    return client_key(request.client.host if request.client else "unknown")


# Handlers that read the store or rank are plain `def`: FastAPI runs them in its threadpool,
# so the event loop (and /healthz, and one-click unsubscribes) never waits for them.
Web = Annotated[WebContext, Depends(ctx)]


@router.get("/preview")
def preview(request: Request, web: Web, keywords: str = "", exclude: str = "") -> JSONResponse:
    """The papers of the last seven days that these keywords would have picked."""
    if not web.guard.preview(client_of(request)):
        return JSONResponse({"error": "too many previews: wait a minute"}, status_code=429)
    if len(keywords) > MAX_FORM_FIELD or len(exclude) > MAX_FORM_FIELD:
        return JSONResponse({"error": "keywords are too long"}, status_code=400)
    try:
        found = web.preview(keywords, exclude)
    except ValidationError as exc:
        return JSONResponse({"error": str(exc), "papers": [], "unmatched": []}, status_code=400)
    return JSONResponse(found)


def preferences_page(
    request: Request, subscriber: Subscriber, status: int = 200, **extra: Any
) -> HTMLResponse:
    """The preferences form filled with the subscriber's settings."""
    values = {name: getattr(subscriber, name) for name in signup.PREFERENCE_FIELDS}
    values["keywords"] = ", ".join(subscriber.keywords)
    values["exclude"] = ", ".join(subscriber.exclude)
    values.update(extra.pop("values", {}))
    web = ctx(request)
    votes = web.store.votes.of(subscriber.id) if subscriber.id is not None else []
    suppressed = web.store.suppression.get(subscriber.email)
    return web.page(
        request,
        "preferences",
        status=status,
        subscriber=subscriber,
        values=values,
        votes=votes,
        stopped=_why_stopped(subscriber, suppressed),
        resumes=_until(resume_day(subscriber)),
        restartable=restart.restartable(subscriber, suppressed),
        **extra,
    )


def _day(typed: str) -> date | None:
    """The day typed into a date field (empty: none)."""
    if not typed.strip():
        return None
    try:
        return date.fromisoformat(typed.strip())
    except ValueError:
        raise ValidationError(f"{typed[:20]!r} is not a day: pick one such as 2026-12-31") from None


def _until(day: date | None) -> str:
    return "" if day is None else f" until {long_day(day)}, when it starts again by itself"


def _why_stopped(subscriber: Subscriber, suppressed: Suppression | None) -> str | None:
    """Why nothing is sent to the subscriber although their page may say otherwise, given
    why their address is suppressed, if it is."""
    if suppressed is not None and suppressed.reason != "bounce":
        why = signup.SUPPRESSED_BECAUSE.get(suppressed.reason, "all mail to it was stopped")
        return (
            f"Nothing is sent to this address: {why}. Only the operator of this service can "
            "lift that."
        )
    if suppressed is None and subscriber.status != SubscriberStatus.BOUNCED:
        return None
    return (
        "Mail to this address bounced, so your digest stopped. If your mailbox takes mail "
        "again, ask for a link there to start it again."
    )


def _page_owner(web: WebContext, token: str) -> Subscriber:
    """The subscriber whose preferences page a link opens (signup.subscriber_for)."""
    return signup.subscriber_for(web.store, web.links, "preferences", token, web.clock())


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences(request: Request, web: Web, token: str) -> HTMLResponse:
    """The subscriber's settings."""
    return preferences_page(request, _page_owner(web, token))


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def save_preferences(request: Request, token: str) -> HTMLResponse:
    """Save settings, pause or resume the digest, or ask to move it to another address."""
    form = await read_form(request)
    if not ctx(request).csrf_valid(request, form):
        return forbidden(request)
    if form.get("action") == "move":
        return await _request_move(request, token, form)
    if form.get("action") == "forget":
        return await _request_forget(request, token, form)
    if form.get("action") == "restart":
        return await _request_restart(request, token)
    return await run_in_threadpool(_save_preferences, request, token, form)


async def _request_move(request: Request, token: str, form: dict[str, str]) -> HTMLResponse:
    """Mail the new address a link that moves the digest there; the same answer, after the
    same time, whether or not that address could take it (it may be someone's already)."""
    web = ctx(request)
    started = time.monotonic()
    subscriber = await run_in_threadpool(_page_owner, web, token)
    if not web.guard.signup(client_of(request)):  # a mail to an address typed in: as signups
        return web.too_many(request, "address changes")
    new = form.get("new_email", "")
    try:
        await run_in_threadpool(
            moving.request_move, web.store, web.mailer, subscriber, new, web.clock(), web.guard
        )
    except ValidationError as exc:
        return preferences_page(request, subscriber, status=400, error=str(exc), values=form)
    notice = (
        f"If {new.strip()} can take this digest, a link to move it there is on its way: "
        "follow it from that mailbox. Until then, nothing changes."
    )
    return await _answer_after(started, preferences_page(request, subscriber, notice=notice))


async def _request_forget(request: Request, token: str, form: dict[str, str]) -> HTMLResponse:
    """Mail the subscriber the link that deletes their data (limited as mails to typed
    addresses are: each press sends one)."""
    web = ctx(request)
    subscriber = await run_in_threadpool(_page_owner, web, token)
    if not web.guard.signup(client_of(request)):
        return web.too_many(request, "deletion requests")
    confirmed = form.get("confirm_forget") == "on"
    if confirmed and not web.guard.mail_to(subscriber.email):
        return web.too_many(request, "deletion requests")
    try:
        mailed = await run_in_threadpool(
            signup.request_forget, web.store, web.mailer, subscriber, confirmed, web.clock()
        )
    except ValidationError as exc:
        return preferences_page(request, subscriber, status=400, error=str(exc), values=form)
    if not mailed:  # nothing may be mailed there: deleted at once
        return web.page(request, "forgotten", email=subscriber.email)
    notice = (
        f"A link to delete your data is on its way to {subscriber.email}: open it from that "
        "mailbox to confirm. Until then, nothing is deleted."
    )
    return preferences_page(request, subscriber, notice=notice)


async def _request_restart(request: Request, token: str) -> HTMLResponse:
    """Mail a bounced subscriber the link that starts their digest again, when followed from
    that mailbox (limited as mails to typed addresses are)."""
    web = ctx(request)
    subscriber = await run_in_threadpool(_page_owner, web, token)
    if not web.guard.signup(client_of(request)) or not web.guard.mail_to(subscriber.email):
        return web.too_many(request, "restart requests")
    try:
        await run_in_threadpool(
            restart.request_restart, web.store, web.mailer, subscriber, web.clock()
        )
    except ValidationError as exc:
        return preferences_page(request, subscriber, status=400, error=str(exc))
    notice = (
        f"A link to start your digest again is on its way to {subscriber.email}: open it from "
        "that mailbox. If nothing comes, the address still takes no mail."
    )
    return preferences_page(request, subscriber, notice=notice)


def _save_preferences(request: Request, token: str, form: dict[str, str]) -> HTMLResponse:
    web = ctx(request)
    subscriber = _page_owner(web, token)
    action = form.get("action", "save")
    try:
        if action == "seed":
            return _seed_votes(request, web, subscriber, form.get("papers", ""))
        if action == "unvote":
            assert subscriber.id is not None
            paper = form.get("paper", "")
            before = web.store.votes.set(subscriber.id, {paper: 0}, web.clock(), "web")
            notice = (
                "Vote removed." if before[paper] else "That paper had no vote: nothing changed."
            )
        elif action in ("pause", "resume"):
            until = _day(form.get("pause_until", "")) if action == "pause" else None
            subscriber = signup.set_paused(
                web.store, subscriber, action == "pause", web.clock(), until
            )
            notice = "Your digest is back on."
            if action == "pause":
                notice = f"Your digest is paused{_until(until)}."
        elif action == "resubscribe":
            subscriber = signup.resubscribe(web.store, subscriber, web.clock())
            notice = "Welcome back: your digests start again at your next send time."
        elif action == "save":
            subscriber = signup.update_preferences(
                web.store, subscriber, preferences_from(form), web.clock()
            )
            notice = "Saved."
            if subscriber.status == "unsubscribed":
                notice += " You are unsubscribed: press Resubscribe to get digests again."
        else:  # a page of another version, or a made-up form: nothing is guessed
            raise ValidationError("this form is out of date: reload the page and try again")
    except ValidationError as exc:
        return preferences_page(request, subscriber, status=400, error=str(exc), values=form)
    return preferences_page(request, subscriber, notice=notice)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, web: Web, token: str) -> HTMLResponse:
    """A page with one button; nothing changes until it is pressed."""
    subscriber = signup.subscriber_for(web.store, web.links, "unsubscribe", token, web.clock())
    return web.page(request, "unsubscribe", subscriber=subscriber)


@router.post("/unsubscribe/{token}")
async def unsubscribe(request: Request, token: str) -> Response:
    """RFC 8058 one-click unsubscribe (no cookie or CSRF token needed): immediate, idempotent."""
    web = ctx(request)
    form = await read_form(request)
    subscriber = await run_in_threadpool(
        signup.unsubscribe, web.store, web.links, token, web.clock()
    )
    if form.get("List-Unsubscribe") == "One-Click" and "text/html" not in request.headers.get(
        "accept", ""
    ):
        return PlainTextResponse(f"{subscriber.email} is unsubscribed.\n")
    back = signup.way_back(web.links, token, subscriber, web.clock())
    return web.page(request, "unsubscribed", subscriber=subscriber, preferences_url=back)


def _seed_votes(
    request: Request, web: WebContext, subscriber: Subscriber, typed: str
) -> HTMLResponse:
    """Like the papers typed in (ids, arXiv ids or URLs, exact titles), one per line; those
    the history does not hold are named and stay in the box, to be corrected."""
    assert subscriber.id is not None
    refs = [line for line in typed.splitlines() if line.strip()]
    if not refs:
        raise ValidationError("type at least one arXiv id or title, one per line")
    papers, missing = lookup_papers(web.store, refs, titles=True)
    meant = whole_titles(web.store, missing)  # part of one title: that title, to confirm
    left = {"papers": "\n".join(meant.get(ref, ref) for ref in missing)}
    error = not_found(missing) if missing else None
    if meant:
        error = (
            f"{error} Part of a title? The whole title it matches is in the box now: "
            "press Add again to like that paper."
        )
    if not papers:
        return preferences_page(request, subscriber, status=404, error=error, values=left)
    web.store.votes.set(subscriber.id, {p.id: 1 for p in papers}, web.clock(), "seed")
    notice = f"Added {counted(len(papers), 'paper')} you like."
    return preferences_page(request, subscriber, notice=notice, error=error, values=left)
