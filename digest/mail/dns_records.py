"""The DNS records that mail from this service needs (SPF, DKIM, DMARC, and an MX for the
bounces and mailto: unsubscribes to arrive): what is published, checked against the settings
and the DKIM key, with the record to publish when one is missing or wrong. The checks are
pure over a `Lookup` (a name's records of one type); `dns_lookup` is the one that asks DNS."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from digest.errors import TransportError, ValidationError

if TYPE_CHECKING:  # dnspython loads when a lookup is made
    import dns.resolver

# a name's records of one type (TXT: its strings joined; MX: 'preference host'); [] when none
Lookup = Callable[[str, str], list[str]]
TXT_STRING = 255  # the longest string in one TXT record (RFC 1035); longer ones are split
DMARC_POLICIES = ("none", "quarantine", "reject")
STRONG_KEY_BITS = 2048  # what Gmail and Yahoo ask of DKIM keys (RFC 8301: at least 1,024)


@dataclass(frozen=True)
class RecordCheck:
    """One record checked: where it lives, what was found, what it means or what to fix."""

    kind: str  # SPF, DKIM, DMARC, MX
    host: str
    ok: bool
    says: str
    found: tuple[str, ...] = ()
    publish: str | None = None  # a zone-file line to publish, when one is missing or wrong


def check_records(
    from_domain: str, dkim_domain: str, selector: str, public_key: bytes | None, lookup: Lookup
) -> list[RecordCheck]:
    """SPF, DKIM, DMARC and MX for mail from `from_domain`; a record DNS did not answer for is a
    failed check saying so, and the others are still checked."""
    checks: list[tuple[str, str, Callable[[], RecordCheck]]] = [
        ("SPF", from_domain, lambda: check_spf(from_domain, lookup)),
        (
            "DKIM",
            f"{selector}._domainkey.{dkim_domain}",
            lambda: check_dkim(dkim_domain, selector, public_key, from_domain, lookup),
        ),
        ("DMARC", f"_dmarc.{from_domain}", lambda: check_dmarc(from_domain, lookup)),
        ("MX", from_domain, lambda: check_mx(from_domain, lookup)),
    ]
    done = []
    for kind, host, check in checks:
        try:
            done.append(check())
        except TransportError as exc:
            done.append(RecordCheck(kind, host, False, str(exc)))
    return done


def check_spf(domain: str, lookup: Lookup) -> RecordCheck:
    """The domain's SPF record: one, and not letting anyone send as the domain."""
    found = tuple(r for r in lookup(domain, "TXT") if r.lower().startswith("v=spf1"))
    template = zone_line(domain, "v=spf1 ip4:<your server's address> include:<your relay's> -all")
    if not found:
        return RecordCheck(
            "SPF",
            domain,
            False,
            "no SPF record: receivers cannot tell your server may send for the domain; "
            "publish one naming your server or relay",
            found,
            template,
        )
    if len(found) > 1:
        return RecordCheck(
            "SPF", domain, False, "two SPF records make both void (RFC 7208): merge them", found
        )
    last = found[0].split()[-1].lower()
    if last in ("all", "+all"):
        return RecordCheck(
            "SPF", domain, False, f"it ends with {last}: anyone may send as {domain}", found
        )
    return RecordCheck("SPF", domain, True, "published", found)


def check_dkim(
    domain: str, selector: str, public_key: bytes | None, from_domain: str, lookup: Lookup
) -> RecordCheck:
    """The key record at `<selector>._domainkey.<domain>`: published, and the public half of
    the key the service signs with (`public_key`, DER; None: DKIM is off)."""
    host = f"{selector}._domainkey.{domain}"
    if public_key is None:
        return RecordCheck(
            "DKIM",
            host,
            False,
            "DKIM is off: set DIGEST_DKIM_KEY_FILE (Gmail and Yahoo require DKIM of bulk "
            "senders, and honour one-click unsubscribe only when it is signed)",
        )
    publish = zone_line(host, dkim_value(public_key))
    if not aligned(domain, from_domain):
        return RecordCheck(
            "DKIM",
            host,
            False,
            f"signing as {domain} does not align with the From domain {from_domain}: DMARC "
            "needs the same domain or a parent of it (set DIGEST_DKIM_DOMAIN)",
        )
    found = tuple(r for r in lookup(host, "TXT") if "p=" in r)
    if not found:
        return RecordCheck("DKIM", host, False, "no key record: publish", found, publish)
    if len(found) > 1:
        return RecordCheck(
            "DKIM", host, False, "more than one key record: keep only this one", found, publish
        )
    tags = dkim_tags(found[0])
    if tags.get("k", "rsa").lower() != "rsa":
        return RecordCheck("DKIM", host, False, "not an RSA key (k=): publish", found, publish)
    published = _der(tags.get("p", ""))
    if published is None:
        return RecordCheck("DKIM", host, False, "its key (p=) is empty or broken", found, publish)
    if not same_key(published, public_key):
        return RecordCheck(
            "DKIM",
            host,
            False,
            "its key is not the one in DIGEST_DKIM_KEY_FILE: receivers will reject every "
            "signature; publish",
            found,
            publish,
        )
    notes = []
    if "y" in tags.get("t", "").lower().split(":"):
        notes.append("t=y: receivers may treat signed mail as unsigned; drop it")
    bits = _bits(public_key)
    if bits < STRONG_KEY_BITS:
        notes.append(f"{bits:,} bits: accepted, but Gmail and Yahoo ask for 2,048")
    note = f" ({'; '.join(notes)})" if notes else ""
    return RecordCheck("DKIM", host, True, f"published, the key signing{note}", found)


def check_dmarc(domain: str, lookup: Lookup) -> RecordCheck:
    """The DMARC policy for the domain (or, if it has none, for its parent domain)."""
    host = f"_dmarc.{domain}"
    found = _dmarc_records(lookup(host, "TXT"))
    parent = domain.partition(".")[2]
    if not found and parent.count(".") >= 1:  # a subdomain falls back on its parent's
        parent_found = _dmarc_records(lookup(f"_dmarc.{parent}", "TXT"))
        if parent_found:
            host, found = f"_dmarc.{parent}", parent_found
    if not found:
        return RecordCheck(
            "DMARC",
            host,
            False,
            "no DMARC record (Gmail and Yahoo require one of bulk senders): start by watching",
            found,
            zone_line(f"_dmarc.{domain}", f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}"),
        )
    if len(found) > 1:
        return RecordCheck(
            "DMARC", host, False, "more than one DMARC record voids them: keep one", found
        )
    policy = dkim_tags(found[0]).get("p", "").lower()
    if policy not in DMARC_POLICIES:
        return RecordCheck(
            "DMARC", host, False, "no valid policy (p=none, quarantine or reject)", found
        )
    advice = (
        ": watching only; tighten to quarantine, then reject, once reports show only your mail"
        if policy == "none"
        else ""
    )
    return RecordCheck("DMARC", host, True, f"published, policy {policy}{advice}", found)


def check_mx(domain: str, lookup: Lookup) -> RecordCheck:
    """Where mail to the domain goes: the bounces (to `bounces+...@domain`) and the mailto:
    unsubscribes come back there, and receivers distrust a From domain that takes no mail."""
    found = tuple(lookup(domain, "MX"))
    lost = "bounces and mailto: unsubscribes to it are lost, and receivers distrust mail from it"
    if any(record.split()[-1] == "." for record in found):
        return RecordCheck(
            "MX", domain, False, f"a null MX: the domain takes no mail; {lost}", found
        )
    if found:
        return RecordCheck("MX", domain, True, "mail to the domain is received", found)
    if lookup(domain, "A") or lookup(domain, "AAAA"):
        return RecordCheck(
            "MX", domain, True, "no MX: mail to the domain goes to its own address (implicit MX)"
        )
    return RecordCheck(
        "MX",
        domain,
        False,
        f"no MX and no address: the domain takes no mail; {lost}. Publish the server that "
        "receives it (the one DIGEST_INBOX_* reads)",
        found,
        f"{domain}.  MX  10 <your mail server>.",
    )


def _dmarc_records(records: list[str]) -> tuple[str, ...]:
    return tuple(r for r in records if re.match(r"v\s*=\s*DMARC1\b", r, re.IGNORECASE))


def dkim_tags(record: str) -> dict[str, str]:
    """The tags of a DKIM key or DMARC record (`k=rsa; p=...`), whitespace taken out of p=."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            tags.setdefault(name.strip().lower(), value.strip())
    if "p" in tags:
        tags["p"] = "".join(tags["p"].split())
    return tags


def _der(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True) or None
    except (binascii.Error, ValueError):
        return None


def _bits(public_key: bytes) -> int:
    key = serialization.load_der_public_key(public_key)
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else 0


def same_key(published: bytes, ours: bytes) -> bool:
    """Whether two DER public keys (SubjectPublicKeyInfo, or the bare RSA key some tools
    publish) are the same RSA key."""
    keys = []
    for der in (published, ours):
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, TypeError):
            return False
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        keys.append(key.public_numbers())
    return keys[0] == keys[1]


def public_der(private: rsa.RSAPrivateKey) -> bytes:
    """The public half of a private key as DNS publishes it (DER SubjectPublicKeyInfo)."""
    return private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def dkim_value(public_key: bytes) -> str:
    """The TXT value of a DKIM key record."""
    return f"v=DKIM1; k=rsa; p={base64.b64encode(public_key).decode('ascii')}"


def zone_line(host: str, value: str) -> str:
    """A TXT record as a zone file holds it, split into strings of at most 255 characters."""
    strings = " ".join(f'"{value[i : i + TXT_STRING]}"' for i in range(0, len(value), TXT_STRING))
    return f"{host}.  TXT  {strings}"


def aligned(dkim_domain: str, from_domain: str) -> bool:
    """Relaxed DMARC alignment, without the public suffix list: the same domain, or one the
    other's subdomain."""
    a, b = dkim_domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def dns_lookup(nameserver: str | None = None, timeout: float = 5.0) -> Lookup:
    """A Lookup that asks DNS: the system's resolvers, or `nameserver` (HOST or HOST:PORT,
    an address: ask the domain's own server to see what is published before caches do)."""
    import dns.exception
    import dns.resolver

    resolver, where = _resolver(nameserver, timeout)

    def lookup(name: str, kind: str) -> list[str]:
        try:
            answer = resolver.resolve(name, kind)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout:
            raise TransportError(
                f"cannot look up {name}: no answer from {where} within {timeout:g} s (check "
                "the network, or name a server with --nameserver)"
            ) from None
        except dns.exception.DNSException as exc:
            raise TransportError(
                f"cannot look up {name} at {where}: {exc.__class__.__name__} (the server "
                "failed or refused: try another with --nameserver)"
            ) from None
        if kind == "TXT":
            return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
        if kind == "MX":
            return [f"{rdata.preference} {rdata.exchange}" for rdata in answer]
        return [rdata.to_text() for rdata in answer]

    return lookup


def dns_says_missing(name: str, nameserver: str | None = None, timeout: float = 5.0) -> bool:
    """Whether DNS answers that `name` does not exist at all (NXDOMAIN), where a Lookup only
    finds no records; False when it exists or DNS gave no clear answer."""
    import dns.exception
    import dns.resolver

    resolver, _ = _resolver(nameserver, timeout)
    try:
        resolver.resolve(name, "SOA")
    except dns.resolver.NXDOMAIN:
        return True
    except dns.exception.DNSException:  # no SOA at the name (a host), or no answer
        return False
    return False


def _resolver(nameserver: str | None, timeout: float) -> tuple[dns.resolver.Resolver, str]:
    """A resolver asking `nameserver` (or the system's servers), and how to name it."""
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=nameserver is None)
    if nameserver is not None:
        address, resolver.port = _server(nameserver)
        resolver.nameservers = [address]
    resolver.lifetime = timeout
    return resolver, nameserver or "the system's DNS servers"


def _server(text: str) -> tuple[str, int]:
    """(address, port) of `--nameserver`: an IPv4 address with an optional :PORT, an IPv6
    address alone or as [ADDRESS]:PORT."""
    host, port = text.strip(), "53"
    if host.startswith("[") and "]" in host:
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") or port
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    try:
        address, number = str(ipaddress.ip_address(host)), int(port)
        if 0 < number < 65536:
            return address, number
    except ValueError:
        pass
    raise ValidationError(
        f"--nameserver {text!r}: give the server's IP address, with :PORT if not 53 "
        "(e.g. 192.0.2.53 or 192.0.2.53:5353)"
    )
