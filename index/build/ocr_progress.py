"""The OCR a build's read stage does: the index's page cache, and progress page by page.

A scanned file takes seconds per page where a text file takes milliseconds, so a build says which
file it is recognizing and how far it is: a bar on a terminal, a line per page in logs (and from
Ray workers, whose lines reach the driver's log).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from index.build.progress import Report, _duration
from index.config import Settings, cpu_threads
from ingest.ocr import OcrSettings, PageProgress

OCR_CACHE = "ocr-cache"  # under the index folder: one JSON file of recognized pages per file content (sha256)


def page_line(name: str, done: int, total: int, cached: int, elapsed: float, waiting: float = 0.0) -> str:
    """"OCR scan.pdf: 12/60 pages (4 from the cache), 0.4 s/page, ETA 19s": the rate counts pages read now
    (`elapsed` is the time they took); the ETA counts down the `waiting` seconds since the last one."""
    read = done - cached
    rate = f", {elapsed / read:.1f} s/page" if read else ""
    from_cache = f" ({cached} from the cache)" if cached else ""
    eta = ""
    if read and done < total:
        left = elapsed / read * (total - done) - waiting
        eta = f", ETA {_duration(left)}" if left >= 0 else f", ETA passed {_duration(-left)} ago (this page is slower)"
    return f"OCR {name}: {done}/{total} pages{from_cache}{rate}{eta}"


class PageMeter:
    """Reports one file's OCR progress, (done, total) pages: as a tqdm bar (`bars`), to `report` (the web
    app's progress bar), or as a line on stderr."""

    def __init__(
        self, name: str, bars: bool, report: Report | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name, self.bars, self.report, self.clock = name, bars, report, clock
        self.bar = None
        self.started = self.last = clock()
        self.first: int | None = None
        self.done, self.total = 0, 0

    def line(self) -> str:
        """The state now: pages read, and the ETA counted down since the last page."""
        now = self.clock()
        return page_line(self.name, self.done, self.total, self.first or 0, self.last - self.started, now - self.last)

    def __call__(self, done: int, total: int) -> None:
        if self.first is None:
            self.first = done  # pages found in the cache: not part of the rate
            self.started = self.clock()
        self.done, self.total, self.last = done, total, self.clock()
        if self.report is not None:
            self.report(self.line(), done, total, "pages")
        elif self.bars:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=done, desc=f"OCR {self.name}", unit="page", leave=False)
            else:
                self.bar.update(done - self.bar.n)
            if done >= total:
                self.bar.close()
        else:
            print(self.line(), file=sys.stderr, flush=True)


def adding_ocr(settings: Settings, progress: PageProgress | None) -> OcrSettings:
    """OCR settings for reading files as they are added: the index's page cache (each page is kept as it
    is read, so a killed add resumes where it stopped) and `progress`."""
    return OcrSettings(cache_dir=ocr_cache_dir(settings), progress=progress, workers=cpu_threads())


def ocr_cache_dir(settings: Settings) -> Path:
    return Path(settings.index_dir) / OCR_CACHE


def ocr_for(
    settings: Settings, name: str, bars: bool, lines: bool, workers: int | None = None, report: Report | None = None
) -> OcrSettings:
    """OCR settings for reading one file in a build: the index's cache, a page meter when progress is shown."""
    return OcrSettings(
        cache_dir=ocr_cache_dir(settings),
        progress=PageMeter(name, bars, report) if bars or lines or report else None,
        workers=workers or cpu_threads(),
    )
