"""`digest dns`: whether the DNS records that mail from DIGEST_FROM needs are published."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from digest.cli.common import JsonOpt, echo_json, say, state
from digest.errors import ConfigError


def dns(
    ctx: typer.Context,
    nameserver: Annotated[
        str | None,
        typer.Option(
            help="Ask this DNS server (IP address, :PORT if not 53) instead of the system's: "
            "the domain's own server shows what is published before caches catch up.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for each answer.", min=0.1, max=60.0)
    ] = 5.0,
    as_json: JsonOpt = False,
) -> None:
    """Check the SPF, DKIM, DMARC and MX records of the From domain, the DKIM one against
    DIGEST_DKIM_KEY_FILE; print the records to publish. Exit status 1 if one needs fixing."""
    from digest.mail.dns_records import check_records, dns_lookup, dns_says_missing, public_der
    from digest.mail.message import sender_domain

    services = state(ctx).services()
    settings, signer = services.settings, services.dkim
    from_domain = sender_domain(settings.from_address)
    if "." not in from_domain:
        raise ConfigError(
            f"DIGEST_FROM is {settings.from_address!r}: set it to the address digests come "
            "from, at a domain of yours, before checking that domain's records"
        )
    if dns_says_missing(from_domain, nameserver, timeout):
        say(
            f"note: {from_domain} does not exist in DNS: unless it is a new name you are about "
            "to publish these records at, check the spelling of DIGEST_FROM",
            err=True,
        )
    lookup = dns_lookup(nameserver, timeout)
    public = None if signer is None else public_der(signer.private)
    dkim_domain = settings.dkim_domain or from_domain
    checks = check_records(from_domain, dkim_domain, settings.dkim_selector, public, lookup)
    if as_json:
        echo_json([asdict(check) for check in checks])
    else:
        for check in checks:
            say(f"{check.kind:<6}{check.host}: {'ok' if check.ok else 'to fix'}: {check.says}")
            for record in check.found:
                say(f"      found: {record}")
            if check.publish:
                say(f"      {check.publish}")
    if not all(check.ok for check in checks):
        raise typer.Exit(1)
