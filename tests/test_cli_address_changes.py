"""A subscriber's address over time: `subscribers edit --email` moves it with its votes, old
links are revoked, suppressed and bounced addresses are named and may start again."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import Project
from subscriber_cli import add_alice, one_error_line, shown, table

from digest.config import load_settings
from digest.errors import ValidationError
from digest.subscriptions import lifecycle as signup
from digest.wiring import Services


def test_revoke_links_kills_old_preferences_links_and_keeps_unsubscribe_working(
    project: Project,
) -> None:
    """B13: RFC 8058 expects the unsubscribe link of every mail already sent to keep working."""
    add_alice(project)
    query = "select token_version from subscriber where email = 'alice@example.org'"
    assert project.query(query) == [(1,)]
    services = Services(load_settings(None))
    try:
        subscriber = services.store.subscribers.get("alice@example.org")
        old_token = services.links.preferences_url(subscriber).rsplit("/", 1)[1]
        old_unsubscribe = services.links.unsubscribe_url(subscriber).rsplit("/", 1)[1]
        assert signup.subscriber_for(
            services.store, services.links, "preferences", old_token, datetime.now(UTC)
        )
    finally:
        services.close()
    before = shown(project, "alice@example.org")
    out = project.ok("subscribers", "edit", "alice@example.org", "--revoke-links").out
    assert out.strip() == "updated alice@example.org: earlier links revoked"
    assert project.query(query) == [(2,)]
    after = shown(project, "alice@example.org")
    assert {k for k in before if before[k] != after[k]} == {"updated_at"}
    services = Services(load_settings(None))
    try:
        with pytest.raises(ValidationError, match="no longer valid"):
            signup.subscriber_for(
                services.store, services.links, "preferences", old_token, datetime.now(UTC)
            )
        assert signup.subscriber_for(
            services.store, services.links, "unsubscribe", old_unsubscribe, datetime.now(UTC)
        )
        fresh = services.links.preferences_url(services.store.subscribers.get("alice@example.org"))
        new_token = fresh.rsplit("/", 1)[1]
        assert signup.subscriber_for(
            services.store, services.links, "preferences", new_token, datetime.now(UTC)
        )
    finally:
        services.close()
    project.ok("subscribers", "edit", "alice@example.org", "--revoke-links")
    assert project.query(query) == [(3,)]


def test_edit_email_moves_the_subscription_with_its_votes_and_revokes_old_links(
    project: Project,
) -> None:
    """A researcher who changes institution keeps settings and votes; their next digest goes
    to the new address, and links that went to the old mailbox stop working."""
    project.ok("fetch")
    add_alice(project)
    [paper] = [row[0] for row in project.query("select id from paper order by id limit 1")]
    project.ok("subscribers", "feedback", "alice@example.org", "--like", paper)
    before = shown(project, "alice@example.org")
    moved = project.ok(
        "subscribers", "edit", "ALICE@example.org", "--email", "Alice@New.example.edu"
    )
    assert moved.out.strip() == (
        "updated alice@new.example.edu: moved from alice@example.org; earlier links revoked"
    )
    after = shown(project, "alice@new.example.edu")
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"email", "updated_at", "address_since"}
    assert after["address_since"] == after["updated_at"]  # reports on mail sent before: not theirs
    assert project.cli("subscribers", "show", "alice@example.org").code == 1
    assert "like" in project.ok("subscribers", "show", "alice@new.example.edu").out
    version = "select token_version from subscriber where email = 'alice@new.example.edu'"
    assert project.query(version) == [(2,)]


def test_show_and_list_say_when_an_active_subscriber_is_suppressed(project: Project) -> None:
    """An address suppressed by hand (or by a complaint about another mail) can belong to an
    active subscriber, who then gets nothing: the operator asking why sees it."""
    add_alice(project)
    project.ok("subscribers", "add", "bob@example.org", "--keywords", "rlhf")
    assert "suppressed" not in project.ok("subscribers", "show", "bob@example.org").out
    project.ok("suppression", "add", "bob@example.org")
    lines = project.ok("subscribers", "show", "bob@example.org").out.splitlines()
    assert lines[1] == "status: active"
    assert lines[2].startswith("suppressed: manual since ") and "nothing is sent" in lines[2]
    listed = project.ok("subscribers", "list").out
    assert "bob@example.org  [active, suppressed: manual]" in listed
    assert "alice@example.org  [active]" in listed
    rows = json.loads(project.ok("subscribers", "list", "--json").out)
    assert {r["email"]: r["suppressed"] for r in rows} == {
        "alice@example.org": None,
        "bob@example.org": "manual",
    }


def test_edit_email_refuses_a_taken_suppressed_or_same_address_and_changes_nothing(
    project: Project,
) -> None:
    add_alice(project)
    project.ok("subscribers", "add", "bob@example.org", "--keywords", "rlhf")
    project.ok("suppression", "add", "spam@example.org")
    rows = table(project)
    for new, message in (
        ("bob@example.org", "another subscriber's address"),
        ("spam@example.org", "suppression list"),
        ("alice@example.org", "already this subscriber's address"),
        ("not an address", "invalid email address"),
    ):
        result = project.cli(
            "subscribers", "edit", "alice@example.org", "--max-papers", "9", "--email", new
        )
        assert result.code == 1
        one_error_line(result, message)
        assert table(project) == rows


def test_edit_email_starts_a_subscription_stopped_by_bounces_again(project: Project) -> None:
    add_alice(project)
    project.query(
        "update subscriber set status = 'bounced', hard_bounces = 3 "
        "where email = 'alice@example.org'"
    )
    project.ok("subscribers", "edit", "alice@example.org", "--email", "alice@example.net")
    after = shown(project, "alice@example.net")
    assert (after["status"], after["hard_bounces"]) == ("active", 0)


def test_resume_starts_a_bounced_subscription_once_its_address_may_be_mailed(
    project: Project,
) -> None:
    """The owner of a bounced address says it takes mail again: the operator takes it off
    the suppression list and resumes it, and bounces count afresh; while it is suppressed,
    resume says what to do first."""
    add_alice(project)
    project.query(
        "update subscriber set status = 'bounced', hard_bounces = 3, "
        "last_bounce_at = '2026-12-01 08:00:00.000000' where email = 'alice@example.org'"
    )
    project.ok("suppression", "add", "alice@example.org")
    refused = project.cli("subscribers", "resume", "alice@example.org")
    assert refused.code == 1
    one_error_line(refused, "digest suppression remove")
    assert shown(project, "alice@example.org")["status"] == "bounced"
    project.ok("suppression", "remove", "alice@example.org")
    assert (
        "resumed alice@example.org" in project.ok("subscribers", "resume", "alice@example.org").out
    )
    after = shown(project, "alice@example.org")
    assert (after["status"], after["hard_bounces"], after["last_bounce_at"]) == ("active", 0, None)
    assert after["keywords"] == ["rlhf", "kv cache"]  # the same subscription, kept


def test_edit_email_to_an_address_whose_signup_was_never_confirmed(project: Project) -> None:
    add_alice(project)
    project.ok("subscribers", "add", "alice@example.net", "--keywords", "rlhf", "--confirm")
    # refused for another reason (the address is suppressed): the signup is left alone
    project.ok("suppression", "add", "alice@example.net")
    refused = project.cli(
        "subscribers", "edit", "alice@example.org", "--email", "alice@example.net"
    )
    assert refused.code == 1 and "suppression list" in refused.err
    assert len(project.query("select 1 from subscriber")) == 2
    project.ok("suppression", "remove", "alice@example.net")
    project.ok("subscribers", "edit", "alice@example.org", "--email", "alice@example.net")
    assert [(r[0], r[1]) for r in project.query("select email, status from subscriber")] == [
        ("alice@example.net", "active")
    ]
