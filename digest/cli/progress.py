"""A progress line on stderr for fetches and sends that take longer than a second: shown only
on a terminal, gone when the work ends (the summary line says what happened)."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

DELAY = 1.0  # seconds of silence before a progress line appears


class ProgressLine:
    """Counts work done; draws a rich progress bar once `delay` has passed."""

    def __init__(
        self,
        what: str,
        total: int | None = None,
        *,
        delay: float = DELAY,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.total, self.delay = what, total, delay
        self.console, self.clock = console, clock
        self.done = 0
        self.started = clock()
        self._bar: Progress | None = None
        self._task: object = None

    def advance(self, count: int = 1) -> None:
        """Record `count` more units done; start drawing once the delay has passed."""
        self.done += count
        if self._bar is None and self.clock() - self.started >= self.delay:
            self._start()
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)  # type: ignore[arg-type]

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        console = self.console or Console(stderr=True)
        if not console.is_interactive:
            self.delay = float("inf")  # never again: a log file wants no progress bars
            return
        columns = [TextColumn(self.what), BarColumn(), MofNCompleteColumn()]
        self._bar = Progress(*columns, console=console, transient=True)
        self._task = self._bar.add_task(self.what, total=self.total, completed=self.done)
        self._bar.start()

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
