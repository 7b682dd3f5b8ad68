"""The CLI's progress line: silent for the first second and off a terminal, then drawn."""

from __future__ import annotations

import io

from rich.console import Console

from digest.cli.progress import ProgressLine


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, force_interactive=terminal, width=80), out


def test_nothing_is_drawn_within_the_first_second() -> None:
    screen, out = console(terminal=True)
    clock = Clock()
    with ProgressLine("sending digests", console=screen, clock=clock) as line:
        clock.now = 0.5
        line.advance(100)
    assert out.getvalue() == "" and line.done == 100


def test_a_long_run_draws_its_count_on_a_terminal() -> None:
    screen, out = console(terminal=True)
    clock = Clock()
    with ProgressLine("fetching listings", 3, console=screen, clock=clock) as line:
        line.advance()
        clock.now = 1.5
        line.advance()
    assert "fetching listings" in out.getvalue() and "2/3" in out.getvalue()


def test_off_a_terminal_nothing_is_ever_drawn() -> None:
    screen, out = console(terminal=False)
    clock = Clock()
    with ProgressLine("sending digests", console=screen, clock=clock) as line:
        clock.now = 5.0
        line.advance(10)
        line.advance(10)
    assert out.getvalue() == "" and line.done == 20
