"""`digest subscribers import/export`: CSV as spreadsheets save it, in one transaction, every
bad row named, and an export that imports back unchanged."""

from __future__ import annotations

import codecs
import json
import os
import sqlite3
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from conftest import Project, named_pipe
from subscriber_cli import (
    HEADER,
    VOLATILE,
    add_alice,
    listed,
    one_error_line,
    shown,
    table,
    write,
)

from digest.subscriptions.csv_io import escape

BOB_BACK = (date.today() + timedelta(days=40)).isoformat()  # when bob's pause ends


def test_import_good_and_bad_rows(project: Project) -> None:
    project.ok("subscribers", "add", "known@example.org", "--keywords", "old topic")
    path = write(
        project,
        "subs.csv",
        HEADER
        + 'ann@example.org,"kv cache, rlhf",video,Europe/Berlin,7:30,5,weekly,fri,active\n'  # 2
        + "x,rlhf,,,,,,,\n"  # 3
        + "ben@example.org,moe;routing,,,,,,,paused\n"  # 4
        + '"cat@example.org\r\nBcc: evil@example.org",rlhf,,,,,,,\n'  # 5-6
        + "\n"  # 7: blank, skipped
        + "dan@example.org,rlhf,,Mars/Olympus,,,,,\n"  # 8
        + "eve@example.org,rlhf,,,25:00,,,,\n"  # 9
        + f"fay@example.org,{'x' * 10_000},,,,,,,\n"  # 10
        + "gus@example.org,rlhf,,,,many,,,\n"  # 11
        + "hal@example.org,rlhf,,,,,monthly,,\n"  # 12
        + "ivy@example.org,rlhf,,,,,,,deleted\n"  # 13
        + "jon@example.org,,,,,,,,\n"  # 14
        + "kim@example.org,kv cache,rlhf,UTC,08:00,10,daily,monday,active,extra\n"  # 15
        + "known@example.org,new topic,,,,,,,\n"  # 16
        + "LEA@example.org,diffusion,,,,,,,\n",  # 17
    )
    result = project.cli("subscribers", "import", str(path))
    assert result.code == 1
    assert result.out.strip() == "3 imported, 1 already present, 10 bad rows"
    assert result.err.splitlines() == [
        "line 3: invalid email address 'x': An email address must have an @-sign.",
        "line 5: email contains a line break",
        "line 8: unknown time zone 'Mars/Olympus': use an IANA name such as Europe/Berlin, a city"
        " such as Tokyo, or UTC",
        "line 9: invalid send time '25:00': use HH:MM, e.g. 08:00 or 20:30",
        f"line 10: keyword too long (10000 characters, at most 80): {'x' * 40!r}…",
        "line 11: max_papers must be a whole number, not 'many'",
        "line 12: unknown frequency 'monthly': use daily, weekdays, weekly",
        "line 13: unknown status 'deleted': use pending, active, paused, unsubscribed, bounced",
        'line 14: keywords are empty: give at least one, e.g. "kv cache, rlhf"',
        "line 15: 10 fields but the header has 9: "
        "put keywords that contain commas in double quotes",
    ]
    rows = {r["email"]: r for r in listed(project)}
    assert sorted(rows) == [
        "ann@example.org",
        "ben@example.org",
        "known@example.org",
        "lea@example.org",
    ]
    ann = rows["ann@example.org"]
    assert (ann["keywords"], ann["exclude"], ann["timezone"], ann["send_at"]) == (
        ["kv cache", "rlhf"],
        ["video"],
        "Europe/Berlin",
        "07:30",
    )
    assert (ann["max_papers"], ann["frequency"], ann["weekly_day"], ann["status"]) == (
        5,
        "weekly",
        4,
        "active",
    )
    assert (rows["ben@example.org"]["keywords"], rows["ben@example.org"]["status"]) == (
        ["moe", "routing"],
        "paused",
    )
    assert rows["known@example.org"]["keywords"] == ["old topic"]  # kept as it was
    lea = rows["lea@example.org"]
    assert (lea["timezone"], lea["send_at"], lea["max_papers"], lea["frequency"]) == (
        "UTC",
        "08:00",
        10,
        "daily",
    )
    assert project.mails() == []


def test_import_refuses_a_token_version_the_database_cannot_hold(project: Project) -> None:
    """A token_version of 20 digits passed the checks and failed storing the whole file;
    now it is a bad row like any other, and the good rows are imported."""
    head = HEADER.strip() + ",trending,trending_box,grouped,public_id,token_version\n"
    path = write(
        project,
        "subs.csv",
        head
        + "ann@example.org,rlhf,,,,,,,,,,,,99999999999999999999\n"  # 2
        + "ben@example.org,rlhf,,,,,,,,,,,,0\n"  # 3
        + "cat@example.org,rlhf,,,,,,,,,,,,7\n",  # 4
    )
    result = project.cli("subscribers", "import", str(path))
    assert result.out.strip() == "1 imported, 0 already present, 2 bad rows"
    assert result.err.splitlines() == [
        "line 2: token_version must be 1 to 2147483647",
        "line 3: token_version must be 1 to 2147483647",
    ]
    assert [r["email"] for r in listed(project)] == ["cat@example.org"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")
def test_import_from_a_pipe_is_refused_instead_of_waiting_forever(project: Project) -> None:
    pipe = named_pipe(project.root / "subs.csv")
    result = project.cli("subscribers", "import", str(pipe))
    assert result.code != 0
    assert result.err.strip() == f"error: {pipe} is not a regular file: nothing was imported"


def test_import_twice_creates_no_duplicates(project: Project) -> None:
    path = write(
        project,
        "subs.csv",
        "keywords,email\n"  # any column order; the optional columns may be left out
        '"kv cache; rlhf",ann@example.org\n'
        "moe,ben@example.org\n",
    )
    first = project.ok("subscribers", "import", str(path))
    assert first.out.strip() == "2 imported, 0 already present, 0 bad rows"
    assert first.err == ""
    rows = table(project)
    second = project.ok("subscribers", "import", str(path))
    assert second.out.strip() == "0 imported, 2 already present, 0 bad rows"
    assert table(project) == rows
    assert project.query("select email, keywords from subscriber order by email") == [
        ("ann@example.org", '["kv cache", "rlhf"]'),
        ("ben@example.org", '["moe"]'),
    ]


def test_repeated_address_in_the_file_counts_once(project: Project) -> None:
    path = write(
        project,
        "subs.csv",
        HEADER
        + "ann@example.org,first,,,,,,,\n"
        + "ANN@example.org,second,,,,,,,\n"
        + "ann@example.org,third,,,,,,,\n"
        + "ben@example.org,moe,,,,,,,\n",
    )
    result = project.ok("subscribers", "import", str(path))
    assert result.out.strip() == (
        "2 imported, 0 already present, 0 bad rows (2 repeated in the file, counted once)"
    )
    assert project.query("select email, keywords from subscriber order by email") == [
        ("ann@example.org", '["first"]'),
        ("ben@example.org", '["moe"]'),
    ]


def test_import_leaves_out_addresses_on_the_suppression_list(project: Project) -> None:
    """An old list imported whole must not bring back people who complained or bounced:
    `subscribers add` refuses them, the signup form mails them nothing, and import left
    them active, planned and cancelled every day."""
    project.ok("suppression", "add", "Complained@Example.org")
    path = write(
        project, "subs.csv", "email,keywords\ncomplained@example.org,rlhf\nok@example.org,moe\n"
    )
    done = project.ok("subscribers", "import", str(path))
    assert done.out.strip() == (
        "1 imported, 0 already present, 1 on the suppression list (left out: "
        "`digest suppression list`), 0 bad rows"
    )
    assert project.query("select email from subscriber") == [("ok@example.org",)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "is empty: it needs a header row"),
        (b"ann@example.org,rlhf\nben@example.org,moe\n", "has no header row"),
        (b"email|keywords\nann@example.org|rlhf\n", "has no header row"),
        (b"email,exclude\nann@example.org,rlhf\n", "has no 'keywords' column"),
        (b"email,keywords,email\nann@example.org,rlhf,x\n", "names the column 'email' twice"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "subs.csv: it contains binary data"),
        (b"email,keywords\nann@example.org,caf\xe9\n", "is not UTF-8 text (byte 34)"),
        (b"\xff\xfee\x00m\x00a", "is broken UTF-16 text"),
        (b'email,keywords\nann@example.org,"rlhf\n', "is not valid CSV"),
    ],
)
def test_unreadable_import_file_is_one_line_and_imports_nothing(
    project: Project, content: bytes | None, message: str
) -> None:
    project.ok("subscribers", "add", "kept@example.org", "--keywords", "kv cache")
    before = table(project)
    path = project.root / "subs.csv"
    if content is not None:
        path.write_bytes(content)
    result = project.cli("subscribers", "import", str(path))
    assert result.code == 1
    line = one_error_line(result, message)
    assert line.startswith("error: ") and ("subs.csv" in line)
    assert result.out == ""
    assert table(project) == before


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        # a spreadsheet in German or French saves "CSV" with semicolons (the comma is the
        # decimal mark there), quoting a cell that holds one
        ('email;keywords;max_papers\r\nann@example.org;"kv cache; rlhf";5\r\n', "utf-8-sig"),
        # "Unicode text" from a spreadsheet: tab-separated UTF-16 with a byte order mark
        ("email\tkeywords\tmax_papers\r\nann@example.org\tkv cache; rlhf\t5\r\n", "utf-16"),
        ("email,keywords,max_papers\nann@example.org,kv cache; rlhf,5\n", "utf-16-le"),
        ("email\tkeywords\tmax_papers\nann@example.org\tkv cache; rlhf\t5\n", "utf-8"),
    ],
)
def test_import_reads_what_spreadsheets_save(project: Project, text: str, encoding: str) -> None:
    body = text.encode(encoding)
    if encoding == "utf-16-le":
        body = codecs.BOM_UTF16_LE + body
    path = project.root / "subs.csv"
    path.write_bytes(body)
    result = project.ok("subscribers", "import", str(path))
    assert result.out.strip() == "1 imported, 0 already present, 0 bad rows"
    assert project.query("select email, keywords, max_papers from subscriber") == [
        ("ann@example.org", '["kv cache", "rlhf"]', 5)
    ]


def test_semicolon_file_with_an_unquoted_semicolon_names_the_fix(project: Project) -> None:
    path = write(project, "subs.csv", "email;keywords\nann@example.org;kv cache; rlhf\n")
    result = project.cli("subscribers", "import", str(path))
    assert result.out.strip() == "0 imported, 0 already present, 1 bad row"
    assert result.err.strip() == (
        "line 2: 3 fields but the header has 2: "
        "put keywords that contain semicolons in double quotes"
    )


def test_import_ignores_columns_that_are_not_ours_and_says_so(project: Project) -> None:
    """A spreadsheet with a `name` column imports; the extra column is named on stderr."""
    path = project.root / "subs.csv"
    path.write_text("name,email,keywords\nAnn Lee,ann@example.org,rlhf\n", encoding="utf-8")
    result = project.ok("subscribers", "import", str(path))
    assert "ignored the columns 'name'" in result.err
    assert result.out.strip() == "1 imported, 0 already present, 0 bad rows"
    assert project.query("select email, keywords from subscriber") == [
        ("ann@example.org", '["rlhf"]')
    ]


def test_import_a_directory_is_an_error(project: Project) -> None:
    result = project.cli("subscribers", "import", str(project.root))
    assert result.code == 1
    one_error_line(result, f"{project.root} is not a regular file: nothing was imported")


def test_import_accepts_a_bom_crlf_and_trailing_empty_columns(project: Project) -> None:
    path = project.root / "excel.csv"
    path.write_bytes(
        "\ufeffEmail,Keywords,,\r\nann@example.org,rlhf,,\r\n,,,\r\nben@example.org,moe,,\r\n".encode()
    )
    result = project.ok("subscribers", "import", str(path))
    assert result.out.strip() == "2 imported, 0 already present, 0 bad rows"
    assert [r["email"] for r in listed(project)] == ["ann@example.org", "ben@example.org"]


def seed_varied(project: Project) -> None:
    """Subscribers that use every column: statuses, schedules, odd but valid values."""
    add_alice(project)
    project.ok("subscribers", "add", "bob@example.org", "--keywords", "diffusion, video")
    project.ok("subscribers", "pause", "bob@example.org", "--until", BOB_BACK)
    project.ok(
        "subscribers",
        "add",
        "carol@example.org",
        "--keywords",
        "moe",
        "--confirm",
        "--frequency",
        "weekdays",
        "--send-at",
        "23:59",
        "--timezone",
        "Asia/Kathmandu",
    )
    path = write(
        project,
        "more.csv",
        HEADER + "dan@example.org,\"=1+1; +quoted 'x'; @home\",'=cmd,UTC,00:00,50,weekly,sunday,"
        "unsubscribed\n"
        + 'eve+tag@example.org,"a, b, c","d; e",America/St_Johns,12:30,1,daily,,bounced\n'
        + 'zoë@example.org,"\'lead quote",,Europe/London,06:15,7,weekly,3,active\n',
    )
    project.ok("subscribers", "import", str(path))


def test_export_to_stdout_and_file(project: Project) -> None:
    seed_varied(project)
    out = project.ok("subscribers", "export").out
    lines = out.splitlines()
    extra = ",trending,trending_box,grouped,public_id,token_version,paused_until"
    assert lines[0] == HEADER.strip() + extra
    public_ids = dict(project.query("select email, public_id from subscriber"))
    back = {"bob@example.org": BOB_BACK}
    assert [line.rsplit(",", 3) for line in lines[1:]] == [
        [
            f"{row},0.1,no,yes",
            escape(public_ids[row.split(",")[0]]),  # may start with "-"
            "1",
            back.get(row.split(",")[0], ""),
        ]
        for row in (
            "alice@example.org,rlhf; kv cache,video,Europe/Berlin,07:30,4,weekly,friday,active",
            "bob@example.org,diffusion; video,,UTC,08:00,10,daily,monday,paused",
            "carol@example.org,moe,,Asia/Kathmandu,23:59,10,weekdays,monday,pending",
            "dan@example.org,'=1+1; +quoted 'x'; @home,'=cmd,UTC,00:00,50,weekly,sunday,"
            "unsubscribed",
            "eve+tag@example.org,a; b; c,d; e,America/St_Johns,12:30,1,daily,monday,bounced",
            "zoë@example.org,''lead quote,,Europe/London,06:15,7,weekly,thursday,active",
        )
    ]
    result = project.ok("subscribers", "export", "backup/subs.csv")
    assert result.out.strip() == "6 subscribers exported to backup/subs.csv"
    exported = project.root / "backup" / "subs.csv"
    assert exported.read_text(encoding="utf-8") == out
    assert exported.stat().st_mode & 0o777 == 0o600  # every address: for the owner alone
    exported.chmod(0o644)  # a file that was there, readable by every local user
    project.ok("subscribers", "export", "backup/subs.csv")
    assert exported.stat().st_mode & 0o777 == 0o600 and exported.read_text("utf-8") == out


def test_listings_read_a_page_at_a_time_give_each_subscriber_once_in_order(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """list, list --json and export stream their rows (a million subscribers never sit in
    memory at once): pages of two give what one page gives, and the JSON is what one dump of
    the whole list would print."""
    import digest.store.subscribers as subscribers_store

    assert project.ok("subscribers", "list", "--json").out == "[]\n"
    seed_varied(project)
    commands = [
        ("subscribers", "list"),
        ("subscribers", "list", "--json"),
        ("subscribers", "export"),
    ]
    whole = [project.ok(*command).out for command in commands]
    monkeypatch.setattr(subscribers_store, "LIST_PAGE", 2)
    assert [project.ok(*command).out for command in commands] == whole
    rows = json.loads(whole[1])
    assert whole[1] == json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    assert [r["email"] for r in rows] == sorted(r["email"] for r in rows) and len(rows) == 6
    assert list(rows[0])[:3] == ["id", "email", "status"]  # who first, then the settings
    paused = json.loads(project.ok("subscribers", "list", "--json", "--status", "paused").out)
    assert [r["email"] for r in paused] == ["bob@example.org"]


def test_rows_streamed_as_json_print_what_one_dump_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Row by row, the same text as the whole list at once, also for a value holding a line
    separator (U+2028), which splitting the text into lines to indent it would have changed."""
    from digest.cli.common import echo_json, echo_json_rows

    for rows in ([], [{"a": "x\u2028y", "b": [1, 2]}, {"c": None, "d": "\x1b[2J"}]):
        echo_json_rows(iter(rows))
        streamed = capsys.readouterr().out
        echo_json(rows)
        assert streamed == capsys.readouterr().out
        assert json.loads(streamed) == rows


def test_export_then_import_into_an_empty_database_round_trips(project: Project) -> None:
    seed_varied(project)
    project.ok("subscribers", "edit", "alice@example.org", "--revoke-links")
    project.ok("subscribers", "export", "subs.csv")
    config = project.root / "config" / "digest.toml"
    other = project.root / "config" / "other.toml"
    other.write_text(
        config.read_text().replace("var/digest.sqlite", "var/other.sqlite"), encoding="utf-8"
    )
    assert listed(project, "--json") != []
    empty = json.loads(project.ok("--config", str(other), "subscribers", "list", "--json").out)
    assert empty == []
    result = project.ok("--config", str(other), "subscribers", "import", "subs.csv")
    assert result.out.strip() == "6 imported, 0 already present, 0 bad rows"

    def stable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]

    original = listed(project)
    copied = json.loads(project.ok("--config", str(other), "subscribers", "list", "--json").out)
    assert len(original) == 6
    assert stable(copied) == stable(original)
    # B4: the links in mail already sent name these, so a move keeps them
    kept = ("email", "public_id")
    assert [[r[k] for k in kept] for r in copied] == [[r[k] for k in kept] for r in original]
    versions = "select email, token_version from subscriber order by email"
    with sqlite3.connect(project.root / "var" / "other.sqlite") as conn:
        assert conn.execute(versions).fetchall() == project.query(versions)
    assert (2,) in [v[1:] for v in project.query(versions)]
    assert {r["status"] for r in copied} == {
        "active",
        "paused",
        "pending",
        "unsubscribed",
        "bounced",
    }
    dan = next(r for r in copied if r["email"] == "dan@example.org")
    assert (dan["keywords"], dan["exclude"]) == (["=1+1", "+quoted 'x'", "@home"], ["=cmd"])
    zoe = next(r for r in copied if r["email"] == "zoë@example.org")
    assert (zoe["keywords"], zoe["weekly_day"]) == (["'lead quote"], 3)
    # and the copy exports byte for byte the same file
    again = project.ok("--config", str(other), "subscribers", "export").out
    assert again == (project.root / "subs.csv").read_text(encoding="utf-8")


def test_a_pause_with_an_end_is_imported_as_the_subscribers_own_day(project: Project) -> None:
    """paused_until is a day in the subscriber's time zone; a day already past resumes the
    subscriber at the next send; a day on an active subscriber or not a day is a bad row."""
    header = "email,keywords,timezone,status,paused_until\n"
    path = write(
        project,
        "paused.csv",
        header
        + f"ann@example.org,rlhf,Asia/Tokyo,paused,{BOB_BACK}\n"
        + "ben@example.org,rlhf,UTC,paused,2020-01-01\n"
        + f"cat@example.org,rlhf,UTC,active,{BOB_BACK}\n"
        + "dan@example.org,rlhf,UTC,paused,next week\n"
        + "eve@example.org,rlhf,UTC,paused,2999-01-01\n",
    )
    result = project.cli("subscribers", "import", str(path))
    assert result.out.strip() == "2 imported, 0 already present, 3 bad rows"
    assert result.err.splitlines() == [
        "line 4: paused_until is for a paused subscriber, not one active",
        "line 5: paused_until must be a day as YYYY-MM-DD, not 'next week'",
        "line 6: paused_until 2999-01-01 is more than a year away",
    ]
    back = date.fromisoformat(BOB_BACK)
    assert project.query("select email, paused_until from subscriber order by email") == [
        ("ann@example.org", f"{back - timedelta(days=1)} 15:00:00.000000"),  # Tokyo's midnight
        ("ben@example.org", "2020-01-01 00:00:00.000000"),
    ]
    tomorrow_noon = datetime.combine(date.today() + timedelta(days=1), time(12), tzinfo=UTC)
    sent = project.ok("send", "--now", tomorrow_noon.isoformat())  # past ben's 08:00, any hour
    assert "1 subscriber due" in sent.out  # ben's pause is over
    assert shown(project, "ben@example.org")["status"] == "active"
