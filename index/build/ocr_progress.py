"""The OCR a build's read stage does: the index's page cache, and progress page by page.

A scanned file takes seconds per page where a text file takes milliseconds, so a build says which
file it is recognizing and how far it is: a bar on a terminal, a line per page in logs (and from
Ray workers, whose lines reach the driver's log).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from index.config import Settings, cpu_threads
from ingest.ocr import OcrSettings

OCR_CACHE = "ocr-cache"  # under the index folder: one JSON file of recognized pages per file content (sha256)


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
        read = done - self.first
        elapsed = time.monotonic() - self.started
        rate = f", {elapsed / read:.1f} s/page" if read else ""
        cached = f" ({self.first} from the cache)" if self.first else ""
        eta = f", ETA {round(elapsed / read * (total - done))}s" if read and done < total else ""
        print(f"OCR {self.name}: {done}/{total} pages{cached}{rate}{eta}", file=sys.stderr, flush=True)


def ocr_cache_dir(settings: Settings) -> Path:
    return Path(settings.index_dir) / OCR_CACHE


def ocr_for(settings: Settings, name: str, bars: bool, lines: bool, workers: int | None = None) -> OcrSettings:
    """OCR settings for reading one file in a build: the index's cache, a page meter when progress is shown."""
    return OcrSettings(
        cache_dir=ocr_cache_dir(settings),
        progress=PageMeter(name, bars) if bars or lines else None,
        workers=workers or cpu_threads(),
    )
