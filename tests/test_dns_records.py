"""`digest dns`: the SPF, DKIM and DMARC records of the From domain, asked of a real DNS
server on 127.0.0.1, checked against the settings and the DKIM key, and the records to
publish printed so that publishing them makes the check pass."""

from __future__ import annotations

import base64
import json
import re
import socket
from pathlib import Path

import pytest
from conftest import Project
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dns_server import serve

from digest.errors import ValidationError
from digest.mail.dns_records import (
    Lookup,
    check_dkim,
    check_dmarc,
    check_mx,
    check_spf,
    dkim_value,
    dns_lookup,
    public_der,
    zone_line,
)

KEY_FILE = Path(__file__).parent / "fixtures" / "dkim" / "test-only-private.pem"
PUBLISHED = (Path(__file__).parent / "fixtures" / "dkim" / "test-only-public.b64").read_text()
SPF = "v=spf1 ip4:203.0.113.7 -all"
DMARC = "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"
HOST = "digest._domainkey.example.org"


def ours() -> bytes:
    """The public half of the test key, as the service computes it."""
    key = serialization.load_pem_private_key(KEY_FILE.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return public_der(key)


def table(records: dict[str, list[str]], mx: dict[str, list[str]] | None = None) -> Lookup:
    """A Lookup over TXT records and MX records."""
    kinds = {"TXT": records, "MX": mx or {}, "A": {}, "AAAA": {}}
    return lambda name, kind: kinds[kind].get(name, [])


MX = {"example.org": ["10 mx.example.org."]}


def good() -> dict[str, list[str]]:
    return {
        "example.org": [SPF, "google-site-verification=abc"],
        HOST: [f"v=DKIM1; k=rsa; p={PUBLISHED.strip()}"],
        "_dmarc.example.org": [DMARC],
    }


def test_the_key_the_service_computes_is_the_one_the_fixture_publishes() -> None:
    assert base64.b64encode(ours()).decode() == PUBLISHED.strip()


def test_spf() -> None:
    assert check_spf("example.org", table(good())).ok
    missing = check_spf("example.org", table({"example.org": ["something else"]}))
    assert not missing.ok and missing.publish and "v=spf1" in missing.publish
    two = check_spf("example.org", table({"example.org": [SPF, "v=spf1 mx -all"]}))
    assert not two.ok and "merge" in two.says
    for anyone in ("v=spf1 +all", "v=spf1 a all"):
        assert not check_spf("example.org", table({"example.org": [anyone]})).ok


def test_dkim() -> None:
    key = ours()
    assert check_dkim("example.org", "digest", key, "example.org", table(good())).ok
    off = check_dkim("example.org", "digest", None, "example.org", table(good()))
    assert not off.ok and "DIGEST_DKIM_KEY_FILE" in off.says
    missing = check_dkim("example.org", "digest", key, "example.org", table({}))
    assert not missing.ok and missing.publish and PUBLISHED.strip()[:200] in missing.publish
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    wrong = {HOST: [f"v=DKIM1; p={base64.b64encode(public_der(other)).decode()}"]}
    mismatch = check_dkim("example.org", "digest", key, "example.org", table(wrong))
    assert not mismatch.ok and "not the one" in mismatch.says and mismatch.publish
    revoked = check_dkim(
        "example.org", "digest", key, "example.org", table({HOST: ["v=DKIM1; p="]})
    )
    assert not revoked.ok and "empty" in revoked.says
    two = {HOST: [good()[HOST][0], good()[HOST][0]]}
    assert not check_dkim("example.org", "digest", key, "example.org", table(two)).ok
    # a key split by whitespace, and the bare RSA key some tools publish, are the same key
    public = serialization.load_der_public_key(key)
    bare = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    b64 = base64.b64encode(bare).decode()
    split = {HOST: [f"k=rsa; p={b64[:100]} {b64[100:]}"]}
    assert check_dkim("example.org", "digest", key, "example.org", table(split)).ok
    assert "bits" not in check_dkim("example.org", "digest", key, "example.org", table(good())).says
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_key = public_der(weak)
    weak_record = {HOST: [dkim_value(weak_key)]}
    noted = check_dkim("example.org", "digest", weak_key, "example.org", table(weak_record))
    assert noted.ok and "1,024 bits: accepted, but Gmail and Yahoo ask for 2,048" in noted.says
    testing = {HOST: [good()[HOST][0] + "; t=y"]}
    flagged = check_dkim("example.org", "digest", key, "example.org", table(testing))
    assert flagged.ok and "t=y" in flagged.says
    # signing as a domain DMARC does not align with the From address
    apart = check_dkim("other.net", "digest", key, "example.org", table(good()))
    assert not apart.ok and "align" in apart.says
    assert check_dkim("mail.example.org", "digest", key, "example.org", table({})).publish


def test_dmarc() -> None:
    assert check_dmarc("example.org", table(good())).ok
    missing = check_dmarc("example.org", table({}))
    assert not missing.ok and missing.publish
    assert missing.publish.startswith('_dmarc.example.org.  TXT  "v=DMARC1; p=none')
    watching = check_dmarc("example.org", table({"_dmarc.example.org": ["v=DMARC1; p=none"]}))
    assert watching.ok and "tighten" in watching.says
    bad = check_dmarc("example.org", table({"_dmarc.example.org": ["v=DMARC1; p=maybe"]}))
    assert not bad.ok
    # a subdomain without a record of its own falls under its parent's
    parent = check_dmarc("news.example.org", table(good()))
    assert parent.ok and parent.host == "_dmarc.example.org"
    two = check_dmarc("example.org", table({"_dmarc.example.org": [DMARC, DMARC]}))
    assert not two.ok


def test_mx() -> None:
    assert check_mx("example.org", table({}, MX)).ok
    null = check_mx("example.org", table({}, {"example.org": ["0 ."]}))
    assert not null.ok and "null MX" in null.says
    nothing = check_mx("example.org", table({}))
    assert not nothing.ok and nothing.publish == "example.org.  MX  10 <your mail server>."
    implicit: Lookup = lambda name, kind: ["203.0.113.7"] if kind == "A" else []  # noqa: E731
    assert check_mx("example.org", implicit).ok


def test_a_long_record_is_split_into_strings_of_255() -> None:
    line = zone_line("h.example.org", "x" * 600)
    strings = re.findall(r'"([^"]*)"', line)
    assert [len(s) for s in strings] == [255, 255, 90]
    assert line.startswith("h.example.org.  TXT  ")


def test_nameserver_must_be_an_address() -> None:
    for bad in ("ns1.example.org", "127.0.0.1:99999", "1.2.3.4:x"):
        with pytest.raises(ValidationError, match="IP address"):
            dns_lookup(bad)
    dns_lookup("[::1]:5353")  # IPv6 with a port is taken


def configure(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_FROM", "Papers digest <digest@example.org>")
    monkeypatch.setenv("DIGEST_DKIM_KEY_FILE", str(KEY_FILE))


def test_all_published_passes(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(project, monkeypatch)
    with serve(good(), MX) as server:
        result = project.cli("dns", "--nameserver", f"127.0.0.1:{server.port}")
    assert result.code == 0, result.err + result.out
    lines = result.out.splitlines()
    assert lines[0].startswith("SPF   example.org: ok") and SPF in result.out
    assert any(line.startswith(f"DKIM  {HOST}: ok") for line in lines)
    assert any(line.startswith("DMARC _dmarc.example.org: ok") for line in lines)
    assert any(line.startswith("MX    example.org: ok") for line in lines)
    assert {"example.org", HOST, "_dmarc.example.org"} <= set(server.asked)


def test_what_it_says_to_publish_makes_it_pass(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing published but SPF: DKIM and DMARC are to fix, each with a zone-file line;
    once those lines are served, the check passes."""
    configure(project, monkeypatch)
    with serve({"example.org": [SPF]}, MX) as server:
        result = project.cli("dns", "--nameserver", f"127.0.0.1:{server.port}", "--json")
    assert result.code == 1
    checks = {c["kind"]: c for c in json.loads(result.out)}
    assert checks["SPF"]["ok"] and not checks["DKIM"]["ok"] and not checks["DMARC"]["ok"]
    published: dict[str, list[str]] = {"example.org": [SPF]}
    for kind in ("DKIM", "DMARC"):
        host, _, strings = checks[kind]["publish"].partition(".  TXT  ")
        published[host] = ["".join(re.findall(r'"([^"]*)"', strings))]
    with serve(published, MX) as server:
        again = project.cli("dns", "--nameserver", f"127.0.0.1:{server.port}")
    assert again.code == 0, again.out


def test_a_key_that_is_not_ours_is_named(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(project, monkeypatch)
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    records = good() | {HOST: [f"v=DKIM1; p={base64.b64encode(public_der(other)).decode()}"]}
    with serve(records, MX) as server:
        result = project.cli("dns", "--nameserver", f"127.0.0.1:{server.port}")
    assert result.code == 1
    assert "is not the one in DIGEST_DKIM_KEY_FILE" in result.out
    assert f'{HOST}.  TXT  "v=DKIM1; k=rsa; p={PUBLISHED.strip()[:200]}' in result.out


def test_a_server_that_does_not_answer(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each record says it got no answer, in one line, and the command fails."""
    configure(project, monkeypatch)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        where = f"127.0.0.1:{silent.getsockname()[1]}"
        result = project.cli("dns", "--nameserver", where, "--timeout", "0.3")
    assert result.code == 1
    assert result.out.count("no answer from " + where + " within 0.3 s") == 3 + 1  # MX
    assert "Traceback" not in result.err


def test_what_dns_says_is_cleaned_for_the_terminal(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(project, monkeypatch)
    records = good() | {"example.org": ["v=spf1 \x1b]0;owned\x07 +all"]}
    with serve(records, MX) as server:
        result = project.cli("dns", "--nameserver", f"127.0.0.1:{server.port}")
    assert result.code == 1 and "+all" in result.out
    assert "\x1b" not in result.out and "\x07" not in result.out


def test_without_a_dkim_key(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_FROM", "digest@example.org")
    with serve(good(), MX) as server:
        result = project.cli("dns", "--nameserver", f"127.0.0.1:{server.port}")
    assert result.code == 1
    assert f"DKIM  {HOST}: to fix: DKIM is off: set DIGEST_DKIM_KEY_FILE" in result.out


def test_a_from_domain_that_does_not_exist_gets_a_note(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in DIGEST_FROM ("exmaple.org") made every record "to fix", each with a line to
    publish at a domain nobody owns: DNS says the name does not exist, and a note says so."""
    monkeypatch.setenv("DIGEST_FROM", "digest@exmaple.org")
    with serve(good(), MX) as server:
        typo = project.cli("dns", "--nameserver", f"127.0.0.1:{server.port}")
    assert typo.code == 1 and "SPF   exmaple.org: to fix" in typo.out
    assert typo.err == (
        "note: exmaple.org does not exist in DNS: unless it is a new name you are about to "
        "publish these records at, check the spelling of DIGEST_FROM\n"
    )
    configure(project, monkeypatch)
    with serve(good(), MX) as server:
        assert project.cli("dns", "--nameserver", f"127.0.0.1:{server.port}").err == ""


def test_the_default_from_address_is_not_checked(project: Project) -> None:
    result = project.cli("dns", "--nameserver", "127.0.0.1:9")
    assert result.code != 0 and "DIGEST_FROM is 'papers digest <digest@localhost>'" in result.err
    assert result.out == ""


def test_dns_lookup_reads_each_type_from_a_real_server() -> None:
    long = "v=DKIM1; k=rsa; p=" + "A" * 400  # two strings in one TXT record
    with serve({"example.org": [long]}, MX, {"mail.example.org": ["203.0.113.7"]}) as server:
        lookup = dns_lookup(f"127.0.0.1:{server.port}", 2.0)
        assert lookup("example.org", "TXT") == [long]
        assert lookup("example.org", "MX") == ["10 mx.example.org."]
        assert lookup("mail.example.org", "A") == ["203.0.113.7"]
        assert lookup("example.org", "A") == []  # a name without that type
        assert lookup("nowhere.example.org", "TXT") == []  # NXDOMAIN
        assert check_mx("mail.example.org", lookup).ok  # no MX, an address: implicit MX
