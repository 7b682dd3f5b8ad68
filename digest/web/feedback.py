"""Vote pages: a GET shows what a link would do (mail scanners open every link), the POST
records it, and the answer offers undo."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from digest.errors import GoneError, LinkError, ValidationError
from digest.models import Paper, Subscriber
from digest.subscriptions.tokens import VoteToken
from digest.web.context import WebContext
from digest.web.routes import Web, ctx, forbidden, read_form

router = APIRouter()
WORDS = {1: "more", -1: "fewer"}


def _vote_target(
    web: WebContext, token: str, direction: str | None
) -> tuple[VoteToken, Subscriber, Paper]:
    """The vote a link names, its subscriber and paper; stale links raise errors."""
    data = web.links.read_vote(token, web.clock().timestamp(), direction)
    subscriber = web.store.subscribers.by_public_id(data.subscriber)
    if subscriber is None:
        raise GoneError("this subscription no longer exists: nothing was recorded")
    if subscriber.token_version != data.version:
        raise LinkError("this link is no longer valid: use the links in your latest digest")
    paper = web.store.papers.by_ids([data.paper_id]).get(data.paper_id)
    if paper is None:
        raise GoneError("this paper is no longer in the history: nothing was recorded")
    return data, subscriber, paper


# a vote link is /vote/<token>/more or /vote/<token>/less; links of earlier emails are
# /vote/<token>, the direction inside the token
@router.get("/vote/{token}", response_class=HTMLResponse)
@router.get("/vote/{token}/{direction}", response_class=HTMLResponse)
def vote_page(request: Request, web: Web, token: str, direction: str | None = None) -> HTMLResponse:
    """What the link would record; nothing changes until the form is posted."""
    data, _, paper = _vote_target(web, token, direction)
    return web.page(request, "vote", paper=paper, value=data.value, words=WORDS)


@router.post("/vote/{token}", response_class=HTMLResponse)
@router.post("/vote/{token}/{direction}", response_class=HTMLResponse)
async def vote(request: Request, token: str, direction: str | None = None) -> HTMLResponse:
    """Record the vote (or, with action=undo, put back what was there before)."""
    web = ctx(request)
    form = await read_form(request)
    if not web.csrf_valid(request, form):
        return forbidden(request)
    data, subscriber, paper = await run_in_threadpool(_vote_target, web, token, direction)
    assert subscriber.id is not None
    if form.get("action") == "undo":
        previous = form.get("previous", "0")
        if previous not in ("-1", "0", "1"):
            raise ValidationError("this undo form is damaged: reload the page and try again")
        await run_in_threadpool(
            web.store.votes.set, subscriber.id, {paper.id: int(previous)}, web.clock(), "web"
        )
        return web.page(request, "voted", paper=paper, undone=True, value=data.value, words=WORDS)
    before = await run_in_threadpool(
        web.store.votes.set, subscriber.id, {paper.id: data.value}, web.clock(), "email"
    )
    return web.page(
        request,
        "voted",
        paper=paper,
        undone=False,
        value=data.value,
        previous=before[paper.id],
        words=WORDS,
        preferences_url=web.links.preferences_url(subscriber),
    )
