"""What people type into `digest subscribers add/edit/import`: addresses as mail clients copy
them, time zones and send times in their own words, exclusions among the keywords."""

from __future__ import annotations

import pytest
from conftest import Project
from subscriber_cli import write

from digest.errors import ValidationError


def test_keywords_with_a_lone_surrogate_are_refused() -> None:
    """What an argument byte that is not UTF-8 becomes in Python (the CLI refuses those
    first): no email can carry it, so every digest of such a subscriber failed to build."""
    from digest.subscriptions.preferences import check_keywords

    with pytest.raises(ValidationError, match="invalid keywords: not UTF-8 text"):
        check_keywords("kv\udc85cache")


def test_exclusions_typed_among_the_keywords_are_stored_as_exclusions(project: Project) -> None:
    typed = "diffusion models, -medical, video NOT surgery"
    added = project.ok("subscribers", "add", "ann@example.org", "--keywords", typed)
    assert added.out.startswith(
        "added ann@example.org: diffusion models, video (not: medical, surgery); "
    )
    assert project.query("select keywords, exclude from subscriber") == [
        ('["diffusion models", "video"]', '["medical", "surgery"]')
    ]
    project.ok("subscribers", "edit", "ann@example.org", "--keywords", "video, -animals")
    assert project.query("select keywords, exclude from subscriber") == [
        ('["video"]', '["medical", "surgery", "animals"]')
    ]


@pytest.mark.parametrize(
    ("keywords", "exclude", "named"),
    [
        ("kv cache, galaxies", "Galaxy", "galaxies"),  # one stem in two spellings
        ("kv cache, rlhf", "", None),
        ("kv cache, -KV caches", "", "kv cache"),  # an exclusion typed among the keywords
    ],
)
def test_a_keyword_that_is_also_excluded_is_refused(
    project: Project, keywords: str, exclude: str, named: str | None
) -> None:
    """Every paper the keyword matches whole would be removed again: a slip, refused with
    the keyword named, by `subscribers add` and `rank` alike."""
    add = project.cli("subscribers", "add", "ann@example.org", "--keywords", keywords,
                      "--exclude", exclude)  # fmt: skip
    rank = project.cli("rank", "--keywords", keywords, "--exclude", exclude)
    if named is None:  # the same command without the clash works
        assert add.code == 0 and rank.code == 0
        return
    for failed in (add, rank):
        assert failed.code == 1 and failed.out == ""
        assert f"error: {named!r} is both a keyword and excluded" in failed.err
    assert project.query("select count(*) from subscriber") == [(0,)]


def test_an_edit_of_other_settings_keeps_a_clash_stored_before(project: Project) -> None:
    """Topics stored before the check (by an older version) do not block a send time change;
    changing the topics checks them."""
    project.ok("subscribers", "add", "ann@example.org", "--keywords", "kv cache, rlhf")
    project.query("""update subscriber set exclude = '["rlhf"]'""")
    project.ok("subscribers", "edit", "ann@example.org", "--send-at", "09:00")
    failed = project.cli("subscribers", "edit", "ann@example.org", "--exclude", "rlhf, gans")
    assert failed.code == 1 and "'rlhf' is both a keyword and excluded" in failed.err
    assert project.query("select send_at, exclude from subscriber") == [("09:00", '["rlhf"]')]


@pytest.mark.parametrize(
    "typed",
    [
        "Ann Lee <Ann@Example.org>",
        '"Lee, Ann" <ann@example.org>',
        "<ann@example.org>",
        "mailto:ann@example.org",
    ],
)
def test_an_address_as_mail_clients_copy_it(project: Project, typed: str) -> None:
    """Copied from a mail client or a contact list's export, with the name or as a link."""
    project.ok("subscribers", "add", typed, "--keywords", "rlhf")
    assert project.query("select email from subscriber") == [("ann@example.org",)]
    quoted = typed.replace('"', '""')  # as a spreadsheet saves the field
    path = write(project, "subs.csv", f'email,keywords\n"{quoted}",moe\n')
    assert "0 imported, 1 already present" in project.ok("subscribers", "import", str(path)).out


def test_a_city_two_different_clocks_share_is_refused(project: Project) -> None:
    args = ["--keywords", "rlhf", "--timezone", "west"]  # Brazil/West or Australia/West?
    failed = project.cli("subscribers", "add", "ann@example.org", *args)
    assert failed.code == 1 and "unknown time zone 'west'" in failed.err


@pytest.mark.parametrize("offset", ["UTC+2", "GMT-5", "+01:00", "utc +5:30", "Etc/GMT+5"])
def test_an_offset_typed_for_a_time_zone_asks_for_the_city(project: Project, offset: str) -> None:
    """An offset keeps no summer time (and its Etc/ name reads the opposite way round: UTC+2
    is Etc/GMT-2), so it is refused with what to type instead."""
    args = ["--keywords", "rlhf", "--timezone", offset]
    failed = project.cli("subscribers", "add", "ann@example.org", *args)
    assert failed.code == 1 and "an offset is not a place" in failed.err
    assert "name your city, e.g. Berlin" in failed.err


def test_est_asks_for_the_city_and_a_stored_one_stays_until_changed(project: Project) -> None:
    """EST is UTC-5 all year in tzdata: typed in New York, the digest came an hour late all
    summer. Refused with what to type; one stored before (an import of an old list) is
    checked again only when the time zone changes."""
    failed = project.cli("subscribers", "add", "ann@example.org", "--keywords", "rlhf",
                         "--timezone", "est")  # fmt: skip
    assert failed.code == 1 and "'est' is UTC-5 all year" in failed.err
    assert "name your city, e.g. New York" in failed.err
    # the zone of that name that keeps summer time stays
    project.ok(
        "subscribers", "add", "ann@example.org", "--keywords", "rlhf", "--timezone", "EST5EDT"
    )
    project.query("update subscriber set timezone = 'EST'")  # as imported before
    project.ok("subscribers", "edit", "ann@example.org", "--send-at", "9:00")
    failed = project.cli("subscribers", "edit", "ann@example.org", "--timezone", "EST")
    assert failed.code == 1 and "all year" in failed.err
    project.ok("subscribers", "edit", "ann@example.org", "--timezone", "new york")
    assert project.query("select timezone, send_at from subscriber") == [
        ("America/New_York", "09:00")
    ]


@pytest.mark.parametrize(
    ("timezone", "send_at", "stored"),
    [
        ("europe/berlin", "8pm", ("Europe/Berlin", "20:00")),
        ("new york", "7:30 a.m.", ("America/New_York", "07:30")),
        ("Kolkata", "0645", ("Asia/Kolkata", "06:45")),
        ("UTC", "8h30", ("UTC", "08:30")),
        ("CET", "12am", ("CET", "00:00")),
        ("UTC", "Noon", ("UTC", "12:00")),
        ("UTC", "midnight", ("UTC", "00:00")),
        # a city several zone names share, all one clock: the full, current name
        ("buenos aires", "09:00", ("America/Argentina/Buenos_Aires", "09:00")),
        # the city as its people spell it, accents and all
        ("São Paulo", "07:00", ("America/Sao_Paulo", "07:00")),
        ("zürich", "07:00", ("Europe/Zurich", "07:00")),
    ],
)
def test_time_zone_and_send_time_as_people_type_them(
    project: Project, timezone: str, send_at: str, stored: tuple[str, str]
) -> None:
    args = ["--keywords", "rlhf", "--timezone", timezone, "--send-at", send_at]
    project.ok("subscribers", "add", "ann@example.org", *args)
    assert project.query("select timezone, send_at from subscriber") == [stored]


def test_a_keyword_that_holds_an_excluded_one_is_refused(project: Project) -> None:
    """Every paper "kv cache compression" matches whole holds "kv cache": with that
    excluded, only its near misses were left. The other way round is a real wish: caches,
    but not KV caches."""
    args = ["--keywords", "kv cache compression, rlhf", "--exclude", "KV caches"]
    failed = project.cli("subscribers", "add", "ann@example.org", *args)
    assert failed.code == 1 and failed.err == (
        "error: every paper that matches 'kv cache compression' holds 'kv caches', which is "
        "excluded: none would be sent; remove one of them\n"
    )
    assert project.query("select count(*) from subscriber") == [(0,)]
    project.ok("subscribers", "add", "ann@example.org", "--keywords", "cache",
               "--exclude", "kv cache")  # fmt: skip


def test_a_weekly_day_for_a_digest_that_is_not_weekly_is_refused(project: Project) -> None:
    """`--weekly-day friday` alone meant a weekly digest: it was stored and never used, and
    the subscriber got a digest every day."""
    refused = project.cli("subscribers", "add", "ann@example.org", "--keywords", "rlhf",
                          "--weekly-day", "friday")  # fmt: skip
    assert refused.code == 2 and "add --frequency weekly" in refused.err
    assert project.query("select count(*) from subscriber") == [(0,)]
    project.ok("subscribers", "add", "ann@example.org", "--keywords", "rlhf")
    refused = project.cli("subscribers", "edit", "ann@example.org", "--weekly-day", "fri")
    assert refused.code == 2 and "this one is daily" in refused.err
    project.ok("subscribers", "edit", "ann@example.org", "--weekly-day", "fri",
               "--frequency", "weekly")  # fmt: skip
    project.ok("subscribers", "edit", "ann@example.org", "--weekly-day", "tuesday")
    assert project.query("select frequency, weekly_day from subscriber") == [("weekly", 1)]
