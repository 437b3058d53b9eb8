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

from index.build.progress import _duration
from index.config import Settings, cpu_threads
from ingest.ocr import OcrSettings, PageProgress

OCR_CACHE = "ocr-cache"  # under the index folder: one JSON file of recognized pages per file content (sha256)


def page_line(name: str, done: int, total: int, cached: int, elapsed: float) -> str:
    """"OCR scan.pdf: 12/60 pages (4 from the cache), 0.4 s/page, ETA 19s": the rate counts pages read now."""
    read = done - cached
    rate = f", {elapsed / read:.1f} s/page" if read else ""
    from_cache = f" ({cached} from the cache)" if cached else ""
    eta = f", ETA {_duration(elapsed / read * (total - done))}" if read and done < total else ""
    return f"OCR {name}: {done}/{total} pages{from_cache}{rate}{eta}"


class PageMeter:
    """Reports one file's OCR progress: (done, total) pages, as a tqdm bar or as lines on stderr."""

    def __init__(self, name: str, bars: bool) -> None:
        self.name, self.bars = name, bars
        self.bar = None
        self.started = time.monotonic()
        self.first: int | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.first is None:
            self.first = done  # pages found in the cache: not part of the rate
        if self.bars:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=done, desc=f"OCR {self.name}", unit="page", leave=False)
            else:
                self.bar.update(done - self.bar.n)
            if done >= total:
                self.bar.close()
            return
        print(page_line(self.name, done, total, self.first, time.monotonic() - self.started), file=sys.stderr, flush=True)


class CallbackMeter:
    """One file's OCR progress handed to `report(line, done, total)` (the web app's progress bar)."""

    def __init__(self, name: str, report: Callable[[str, int, int], None]) -> None:
        self.name, self.report = name, report
        self.started = time.monotonic()
        self.first: int | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.first is None:
            self.first = done
        self.report(page_line(self.name, done, total, self.first, time.monotonic() - self.started), done, total)


class ScanPages:
    """OCR progress over files the reader does not name (an add or an upload reads its files itself):
    a document starts when the page count starts again, and gets its own meter, `meter(n)` for the n-th."""

    def __init__(self, meter: Callable[[int], PageProgress]) -> None:
        self.meter = meter
        self.count, self.done, self.total = 0, 0, 0
        self.current: PageProgress | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.current is None or total != self.total or done < self.done:
            self.count += 1
            self.current = self.meter(self.count)
        self.done, self.total = done, total
        self.current(done, total)


def adding_ocr(settings: Settings, progress: PageProgress | None) -> OcrSettings:
    """OCR settings for reading files as they are added: the index's page cache (each page is kept as it
    is read, so a killed add resumes where it stopped) and `progress`."""
    return OcrSettings(cache_dir=ocr_cache_dir(settings), progress=progress, workers=cpu_threads())


def ocr_cache_dir(settings: Settings) -> Path:
    return Path(settings.index_dir) / OCR_CACHE


def ocr_for(settings: Settings, name: str, bars: bool, lines: bool, workers: int | None = None) -> OcrSettings:
    """OCR settings for reading one file in a build: the index's cache, a page meter when progress is shown."""
    return OcrSettings(
        cache_dir=ocr_cache_dir(settings),
        progress=PageMeter(name, bars) if bars or lines else None,
        workers=workers or cpu_threads(),
    )
