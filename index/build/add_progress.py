"""Progress of reading files as they are added (`verbatim add`, a web upload): which file of how many,
its OCR pages, and an ETA; never silent on a read that cannot count itself (a 100k-row workbook).

One state, three outputs: tqdm bars on a terminal (the files, and the current file's OCR pages); lines
on stderr otherwise ("add: file 3/19 scan.pdf (2.1 MB), 2 read in 14s, ETA 1m52s", a line per OCR
page, and a line every 10 s while nothing else is said); or a `report` callback (the web app's bar).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from index.build.ocr_progress import PageMeter
from index.build.progress import Report, Ticker, _duration
from ingest.records import printable

MIN_ETA_S = 3.0  # no ETA before this much has been read


def size_text(size: int) -> str:
    """1234567 -> '1.2 MB'."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


class AddProgress(Ticker):
    """Hears `file(n, total, path)` as each file's reading starts (add_sources' `on_file`) and
    `pages(done, total)` as OCR reads the current file's pages (OcrSettings' `progress`).

    The ETA counts a file in progress by the share of its pages read, so one long scan does not leave
    it at "unknown"; files that cannot count themselves are counted whole when the next one starts."""

    def __init__(
        self,
        label: str = "add",
        bars: bool = False,
        report: Report | None = None,
        stream: TextIO | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(1.0 if bars or report is not None else interval)  # bars and the web's bar move every second
        self.label, self.bars, self.report = label, bars and report is None, report
        self.stream = stream if stream is not None else sys.stderr
        self.every = interval  # a line at least this often while nothing else is said
        self.clock = clock
        self.started = self.said = clock()
        self.number, self.total = 0, 0
        self.name, self.size, self.file_started = "", 0, self.started
        self.page_share = 0.0  # of the current file, by its OCR pages
        self.meter: PageMeter | None = None
        self.files_bar = None

    # -- what is heard

    def file(self, number: int, total: int, path: Path) -> None:
        """The `number`-th of `total` files starts being read."""
        self.number, self.total, self.name = number, total, printable(path.name)  # a name may hold controls
        try:
            self.size = path.stat().st_size
        except OSError:
            self.size = 0
        self.file_started, self.page_share, self.meter = self.clock(), 0.0, None
        if self.bars:
            self._bar().update(number - 1 - self._bar().n)
            self._bar().set_postfix_str(self.name, refresh=True)
            return
        self._say(self.file_line(), number - 1, total, "files")

    def pages(self, done: int, total: int) -> None:
        """The current file's OCR: `done` of its `total` pages read (cached ones included)."""
        if self.meter is None:
            where = f" (file {self.number}/{self.total})" if self.total > 1 else ""
            say = None if self.bars else (lambda line, d, t, unit: self._say(line, d, t, unit))
            self.meter = PageMeter(f"{self.name or 'scan'}{where}", self.bars, say, self.clock)
        self.page_share = done / total if total else 0.0
        self.meter(done, total)

    # -- what is said

    def done_files(self) -> float:
        """Files read so far, the one in progress by its share of pages."""
        return max(0, self.number - 1) + self.page_share

    def eta(self) -> str:
        done, elapsed = self.done_files(), self.clock() - self.started
        if not self.total or done <= 0 or elapsed < MIN_ETA_S:
            return ""  # a guess from a few small files is not an estimate
        return f", ETA {_duration(elapsed / done * (self.total - done))}"

    def file_line(self) -> str:
        """"add: file 3/19 scan.pdf (2.1 MB), 2 read in 14s, ETA 1m52s"."""
        read = f", {self.number - 1} read in {_duration(self.clock() - self.started)}" if self.number > 1 else ""
        return f"{self.label}: file {self.number}/{self.total} {self.name} ({size_text(self.size)}){read}{self.eta()}"

    def line(self) -> str:
        """The state now: the file being read and for how long, and the files read."""
        if not self.number:
            return f"{self.label}: listing the files, {_duration(self.clock() - self.started)} so far"
        on_it = _duration(self.clock() - self.file_started)
        read = f"; {self.number - 1} read before it" if self.number > 1 else ""
        return (
            f"{self.label}: file {self.number}/{self.total} {self.name} ({size_text(self.size)}), "
            f"reading for {on_it}{read}{self.eta()}"
        )

    def _say(self, line: str, done: int, total: int, unit: str) -> None:
        self.said = self.clock()
        if self.report is not None:
            self.report(line, done, total, unit)
        else:
            print(line, file=self.stream, flush=True)

    def _bar(self):
        if self.files_bar is None:
            from tqdm import tqdm

            self.files_bar = tqdm(total=self.total, desc=self.label, unit="file", position=0)
        return self.files_bar

    # -- the ticker

    def tick(self) -> None:
        if self.bars:
            if self.files_bar is not None:
                self.files_bar.refresh()  # its elapsed time moves while one file takes long
            return
        if self.report is not None and self.meter is not None and self.meter.done < self.meter.total:
            self._say(self.meter.line(), self.meter.done, self.meter.total, "pages")  # the page ETA counts down
        elif self.report is not None or self.clock() - self.said >= self.every - 0.05:
            self._say(self.line(), self.number - 1, self.total, "files")

    def finish(self, failed: bool) -> None:
        if self.bars:
            if self.files_bar is not None:
                if not failed:
                    self.files_bar.update(self.total - self.files_bar.n)
                self.files_bar.close()
            return
        if not failed and self.total:
            plural = "file" if self.total == 1 else "files"
            self._say(f"{self.label}: read {self.total} {plural} in {_duration(self.clock() - self.started)}", self.total, self.total, "files")
