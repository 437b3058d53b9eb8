"""Progress as plain lines for logs: "embedding: 1,536/17,800 passages (8.6%), 29.1/s, ETA 9m19s".

For builds whose stderr is not a terminal (a log file, CI, `nohup`), where a progress bar prints
nothing useful: a background thread writes one line every `interval` seconds, and a last line when
the stage ends. Any stage that counts work can use it (the build's reading and embedding stages).
A `report` callback takes the lines instead (the web app's progress bar), on every update too.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Self, TextIO, TypeVar

T = TypeVar("T")

# (line, done, total, unit): where a progress line goes when it is not a stream (the web app's bar).
Report = Callable[[str, int, int, str], None]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Ticker:
    """Calls `tick()` every `interval` seconds on a background thread while its `with` block runs, then
    `finish(failed)`. The thread runs in a copy of the caller's context, so a callback bound to the
    caller's request (Gradio's progress) still reaches its page from there."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Called as the block starts, before the first tick."""

    def finish(self, failed: bool) -> None:
        """Called as the block ends (`failed`: by an exception)."""

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def __enter__(self) -> Self:
        self._stop.clear()
        self.start()
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run,), name=f"progress-{type(self).__name__}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.finish(exc_type is not None)


class ProgressLines(Ticker):
    """Counts work done out of `total` and reports it as a line every `interval` seconds (to `stream`),
    or to `report` at every update."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "passages",
        stream: TextIO | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        report: Report | None = None,
    ) -> None:
        super().__init__(min(interval, 1.0) if report is not None else interval)  # a page's bar moves every second
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.report = report
        self.clock = clock
        self.done = 0
        self.current = ""  # what is being worked on, when one item takes long (a 20 MB file)
        self.started = clock()

    def update(self, done: int) -> None:
        """Set how much is done (a count, not an increment)."""
        self.done = min(done, self.total)
        if self.report is not None:
            self.tick()

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

    def tick(self) -> None:
        if self.report is not None:
            self.report(self.line(), self.done, self.total, self.unit)
        else:
            print(self.line(), file=self.stream, flush=True)

    def start(self) -> None:
        self.started = self.clock()
        if self.report is not None:
            self.tick()

    def finish(self, failed: bool) -> None:
        if not failed:
            self.tick()


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
            lines.current = describe(item)
            lines.update(done)
            yield item
        lines.current = ""
        lines.update(len(items))


class Heartbeat(Ticker):
    """A step that cannot count itself (loading a model, writing the index): "label, 12s so far" every
    `interval` seconds, to `report` or as a line on `stream`."""

    def __init__(self, label: str, report: Report | None = None, stream: TextIO | None = None, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.label, self.report = label, report
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()

    def line(self) -> str:
        return f"{self.label}, {_duration(time.monotonic() - self.started)} so far"

    def start(self) -> None:
        self.started = time.monotonic()
        self.tick()

    def tick(self) -> None:
        if self.report is not None:
            self.report(self.line(), 0, 1, "steps")
        else:
            print(self.line(), file=self.stream, flush=True)
