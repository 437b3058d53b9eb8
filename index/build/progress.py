"""Progress as plain lines for logs: "embedding: 1,536/17,800 passages (8.6%), 29.1/s, ETA 9m19s".

For builds whose stderr is not a terminal (a log file, CI, `nohup`), where a progress bar prints
nothing useful: a background thread writes one line every `interval` seconds, and a last line when
the stage ends. Any stage that counts work can use it (the build's reading and embedding stages).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressLines:
    """Counts work done out of `total` and reports it as a line every `interval` seconds."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "passages",
        stream: TextIO | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.clock = clock
        self.done = 0
        self.current = ""  # what is being worked on, when one item takes long (a 20 MB file)
        self.started = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def update(self, done: int) -> None:
        """Set how much is done (a count, not an increment)."""
        self.done = min(done, self.total)

    def advance(self, amount: int = 1) -> None:
        self.update(self.done + amount)

    def line(self) -> str:
        """The current state, e.g. "embedding: 512/2,000 passages (25.6%), 30.2/s, ETA 49s"."""
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        share = f" ({100 * self.done / self.total:.1f}%)" if self.total else ""
        if self.done >= self.total:
            return f"{self.label}: {self.done:,}/{self.total:,} {self.unit}{share} in {_duration(elapsed)}, {rate:.1f}/s"
        eta = _duration((self.total - self.done) / rate) if rate > 0 else "unknown"
        now = f", now {self.current}" if self.current else ""
        return f"{self.label}: {self.done:,}/{self.total:,} {self.unit}{share}, {rate:.1f}/s, ETA {eta}{now}"

    def _print(self) -> None:
        print(self.line(), file=self.stream, flush=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._print()

    def __enter__(self) -> ProgressLines:
        self.started = self.clock()
        self._thread = threading.Thread(target=self._run, name=f"progress-{self.label}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if exc_type is None:
            self._print()


def counted(
    items: Iterable[T], label: str, unit: str, enabled: bool = True, describe: Callable[[T], str] = str, **options
) -> Iterator[T]:
    """`items`, reported by ProgressLines: an item counts as done when the next one is taken, and
    the one in progress is named (`describe`). With `enabled` False, just `items`."""
    if not enabled:
        yield from items
        return
    items = list(items)
    with ProgressLines(label, len(items), unit, **options) as lines:
        for done, item in enumerate(items):
            lines.update(done)
            lines.current = describe(item)
            yield item
        lines.update(len(items))
        lines.current = ""


class Heartbeat:
    """A line every `interval` seconds while work that cannot count itself runs ("adding 3 files: reading
    them, 40s so far"), so a long read (a 100k-row workbook) is never silent. `note` adds what is known."""

    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 10.0) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def line(self) -> str:
        return f"{self.label}, {_duration(time.monotonic() - self.started)} so far"

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            print(self.line(), file=self.stream, flush=True)

    def __enter__(self) -> Heartbeat:
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
