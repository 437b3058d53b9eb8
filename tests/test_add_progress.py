"""Issue 34, item 9: `verbatim add` is never silent on long work, and OCR pages are cached one by one."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest

from index.build.ocr_progress import OCR_CACHE, ScanPages, page_line
from index.build.progress import Heartbeat
from index.config import Settings
from ingest import ocr
from tests.conftest import cli_env
from tests.test_ocr import image_only_pdf


def test_a_page_line_has_the_rate_and_eta():
    assert page_line("scan.pdf", 12, 60, 4, 4.0) == "OCR scan.pdf: 12/60 pages (4 from the cache), 0.5 s/page, ETA 24s"
    assert page_line("scan.pdf", 60, 60, 0, 30.0) == "OCR scan.pdf: 60/60 pages, 0.5 s/page"


def test_scan_pages_gives_each_document_its_own_meter():
    seen: list[tuple[int, int, int]] = []
    pages = ScanPages(lambda n: lambda done, total: seen.append((n, done, total)))
    for done, total in [(0, 3), (1, 3), (3, 3), (0, 2), (2, 2)]:
        pages(done, total)
    assert seen == [(1, 0, 3), (1, 1, 3), (1, 3, 3), (2, 0, 2), (2, 2, 2)]


def test_a_heartbeat_speaks_while_uncounted_work_runs():
    out = io.StringIO()
    with Heartbeat("add: reading 1 path", stream=out, interval=0.05):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("add: reading 1 path, ") and line.endswith("so far") for line in lines)


@pytest.mark.skipif(ocr._engine() is None, reason="tesseract is not installed")
def test_add_reports_each_scanned_page_and_keeps_each_in_the_cache(tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(image_only_pdf(["The granary of Ondra holds forty sacks of barley.", "The mill of Ondra grinds on Tuesdays.", "Ondra's well is forty feet deep."]))
    run = subprocess.run([sys.executable, "-m", "app.cli", "add", "--no-build", str(scan)], env=cli_env(settings), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("OCR scanned file 1 of this add:")]
    assert [line.split(": ")[1].split(" pages")[0] for line in lines] == ["0/3", "1/3", "2/3", "3/3"]
    assert "ETA" in lines[1] and "s/page" in lines[-1]
    cached = [json.loads(p.read_text()) for p in (settings.index_dir / OCR_CACHE).glob("*.json")]
    assert len(cached) == 1 and sorted(cached[0]["pages"]) == ["1", "2", "3"]  # written as each page was read
