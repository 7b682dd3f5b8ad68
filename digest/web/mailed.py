"""The pages of the links mailed to a subscriber or an address (confirm, move, decline,
delete, restart): each GET shows a form and changes nothing, as mail scanners open every link;
its POST, checked against CSRF, acts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from digest.models import Subscriber, SubscriberStatus
from digest.store import Store
from digest.subscriptions import lifecycle as signup
from digest.subscriptions import moving, restart
from digest.subscriptions.links import Links
from digest.web.context import WebContext
from digest.web.routes import Web, ctx, forbidden, read_form

router = APIRouter()


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, web: Web, token: str) -> HTMLResponse:
    """A page whose form confirms (mail scanners open links: a GET changes nothing)."""
    subscriber = signup.to_confirm(web.store, web.links, token, web.clock())
    return web.page(request, "confirm", subscriber=subscriber)


@router.post("/confirm/{token}", response_class=HTMLResponse)
async def confirm(request: Request, token: str) -> HTMLResponse:
    """Activate the subscription the link names."""
    return await _done_by_link(
        request, "confirmed", lambda web: signup.confirm(web.store, web.links, token, web.clock())
    )


async def _done_by_link(
    request: Request, page: str, act: Callable[[WebContext], Subscriber], **extra: Any
) -> HTMLResponse:
    """A form posted from the page of an emailed link: checked, done (off the event loop),
    answered with `page`, which links the (new) preferences page."""
    web = ctx(request)
    if not web.csrf_valid(request, await read_form(request)):
        return forbidden(request)
    subscriber = await run_in_threadpool(act, web)
    return web.page(
        request,
        page,
        subscriber=subscriber,
        preferences_url=web.links.preferences_url(subscriber),
        **extra,
    )


@router.get("/move/{token}", response_class=HTMLResponse)
def move_page(request: Request, web: Web, token: str) -> HTMLResponse:
    """A page whose form moves the digest (mail scanners open links: a GET changes nothing)."""
    subscriber, link = moving.to_move(web.store, web.links, token, web.clock())
    return web.page(request, "move", subscriber=subscriber, email=link.email, back=link.back)


@router.post("/move/{token}", response_class=HTMLResponse)
async def move(request: Request, token: str) -> HTMLResponse:
    """Move the digest to the address the link was mailed to."""
    return await _done_by_link(
        request, "moved", lambda web: moving.move(web.store, web.mailer, token, web.clock())
    )


@router.get("/decline/{token}", response_class=HTMLResponse)
def decline_page(request: Request, web: Web, token: str) -> HTMLResponse:
    """A page whose form stops all mail to the address of a confirmation mail (a GET, as
    mail scanners make, changes nothing)."""
    subscriber = signup.subscriber_for(web.store, web.links, "decline", token, web.clock())
    asked = "Someone signed this address up for papers digest."
    return web.page(request, "decline", email=subscriber.email, asked=asked)


@router.post("/decline/{token}", response_class=HTMLResponse)
async def decline(request: Request, token: str) -> HTMLResponse:
    """Suppress the address a confirmation mail went to, and remove its signup."""
    return await _done_without_subscriber(request, "declined", signup.decline, token)


@router.get("/forget/{token}", response_class=HTMLResponse)
def forget_page(request: Request, web: Web, token: str) -> HTMLResponse:
    """A page whose form deletes the subscriber's data (a GET changes nothing)."""
    subscriber = signup.subscriber_for(web.store, web.links, "forget", token, web.clock())
    return web.page(request, "forget", subscriber=subscriber)


@router.post("/forget/{token}", response_class=HTMLResponse)
async def forget(request: Request, token: str) -> HTMLResponse:
    """Delete everything kept about the subscriber the link names."""
    return await _done_without_subscriber(request, "forgotten", signup.forget, token)


async def _done_without_subscriber(
    request: Request, page: str, act: Callable[[Store, Links, str, datetime], str], token: str
) -> HTMLResponse:
    """A form posted from the page of an emailed link whose act leaves no subscription to
    link to (deleted, or its address stopped): checked, done, answered with `page`."""
    web = ctx(request)
    if not web.csrf_valid(request, await read_form(request)):
        return forbidden(request)
    email = await run_in_threadpool(act, web.store, web.links, token, web.clock())
    return web.page(request, page, email=email)


@router.get("/move/{token}/decline", response_class=HTMLResponse)
def decline_move_page(request: Request, web: Web, token: str) -> HTMLResponse:
    """A page whose form stops all mail to the address a move link was mailed to."""
    email = moving.declining(web.links, token, web.clock())
    asked = "Someone asked for their papers digest to be sent to this address."
    return web.page(request, "decline", email=email, asked=asked)


@router.post("/move/{token}/decline", response_class=HTMLResponse)
async def decline_move(request: Request, token: str) -> HTMLResponse:
    """Suppress the address a move link was mailed to."""
    return await _done_without_subscriber(request, "declined", moving.decline, token)


@router.get("/restart/{token}", response_class=HTMLResponse)
def restart_page(request: Request, web: Web, token: str) -> HTMLResponse:
    """A page whose form starts a bounced digest again (a GET changes nothing)."""
    subscriber = restart.to_restart(web.store, web.links, token, web.clock())
    return web.page(
        request,
        "restart",
        subscriber=subscriber,
        restarted=subscriber.status == SubscriberStatus.ACTIVE,  # the link was used already
        preferences_url=web.links.preferences_url(subscriber),
    )


@router.post("/restart/{token}", response_class=HTMLResponse)
async def restart_digest(request: Request, token: str) -> HTMLResponse:
    """Start the digest the link names again: it was followed from its mailbox."""
    return await _done_by_link(
        request,
        "restart",
        lambda web: restart.restart(web.store, web.links, token, web.clock()),
        restarted=True,
    )
