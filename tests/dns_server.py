"""A real DNS server on 127.0.0.1 (UDP) for tests: it answers TXT, MX and A questions from
tables of records, no answer for a type a known name lacks, and NXDOMAIN for any other name;
every question asked is recorded.

    with serve({"example.org": ["v=spf1 -all"]}, mx={"example.org": ["10 mx.example.org."]}) as s:
        lookup = dns_lookup(f"127.0.0.1:{s.port}")
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HOST = "127.0.0.1"


@dataclass
class DnsServer:
    """The records served ((name, type) -> values; a TXT value is split into 255-character
    strings as a zone would hold it), and the names asked for."""

    records: dict[tuple[str, str], list[str]]
    port: int = 0
    asked: list[str] = field(default_factory=list)

    def answer(self, wire: bytes) -> bytes:
        """The reply to one query."""
        query = dns.message.from_wire(wire)
        reply = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.asked.append(name)
        kind = dns.rdatatype.to_text(question.rdtype)
        values = self.records.get((name, kind), [])
        if not any(known == name for known, _ in self.records):
            reply.set_rcode(dns.rcode.NXDOMAIN)
        elif values:
            texts = [_quoted(value) if kind == "TXT" else value for value in values]
            reply.answer.append(
                dns.rrset.from_text(question.name, 300, dns.rdataclass.IN, question.rdtype, *texts)
            )
        return reply.to_wire()


def _quoted(value: str) -> str:
    parts = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"' for part in parts)


@contextmanager
def serve(
    txt: Mapping[str, Sequence[str]],
    mx: Mapping[str, Sequence[str]] | None = None,
    a: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[DnsServer]:
    """A DnsServer answering on a free UDP port of 127.0.0.1 until the block ends."""
    tables = {"TXT": txt, "MX": mx or {}, "A": a or {}}
    server = DnsServer(
        {
            (name.lower(), kind): list(values)
            for kind, table in tables.items()
            for name, values in table.items()
        }
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.settimeout(0.1)
    server.port = sock.getsockname()[1]
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                wire, client = sock.recvfrom(4096)
            except TimeoutError:
                continue
            sock.sendto(server.answer(wire), client)

    thread = threading.Thread(target=loop, name="test-dns", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()
