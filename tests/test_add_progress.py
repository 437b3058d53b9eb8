"""Issue 34, item 9: `verbatim add` is never silent on long work. Each file is named with its count
("file 2/3"), each OCR page with an ETA, lines on a log and every second to the web app's bar; OCR
pages are cached one by one, so a killed add resumes where it stopped."""

from __future__ import annotations

import contextvars
import io
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from index.build.add_progress import AddProgress
from index.build.ocr_progress import OCR_CACHE, page_line
from index.build.progress import Heartbeat, ProgressLines, Ticker
from index.config import Settings
from ingest import ocr
from tests.conftest import ROOT, cli_env
from tests.test_ocr import image_only_pdf

needs_tesseract = pytest.mark.skipif(ocr._engine() is None, reason="tesseract is not installed")
ONDRA = [
    "The granary of Ondra holds forty sacks of barley.",
    "The mill of Ondra grinds on Tuesdays.",
    "Ondra's well is forty feet deep.",
    "The bridge of Ondra has nine arches.",
    "The school of Ondra has seventy pupils.",
]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_page_line_has_the_rate_and_an_eta_that_counts_down():
    assert page_line("scan.pdf", 12, 60, 4, 4.0) == "OCR scan.pdf: 12/60 pages (4 from the cache), 0.5 s/page, ETA 24s"
    assert page_line("scan.pdf", 60, 60, 0, 30.0) == "OCR scan.pdf: 60/60 pages, 0.5 s/page"
    # Between pages the ETA counts down (the web bar is re-sent every second), and says when it has passed.
    assert page_line("scan.pdf", 12, 60, 4, 4.0, waiting=10.0).endswith("ETA 14s")
    assert page_line("scan.pdf", 1, 3, 0, 2.0, waiting=10.0).endswith("ETA passed 6s ago (this page is slower)")


def test_an_add_names_each_file_with_its_count_and_an_eta(tmp_path):
    notes, scan, sheet = tmp_path / "notes.txt", tmp_path / "scan.pdf", tmp_path / "big.xlsx"
    notes.write_bytes(b"x" * 2048)
    scan.write_bytes(b"x" * 300_000)
    sheet.write_bytes(b"x" * 5_000_000)
    clock, out = Clock(), io.StringIO()
    meter = AddProgress("add", stream=out, interval=10, clock=clock)  # ticked by hand here, on the fake clock
    meter.file(1, 3, notes)
    clock.now += 4
    meter.file(2, 3, scan)
    meter.pages(0, 4)
    clock.now += 6
    meter.pages(2, 4)
    assert meter.done_files() == 1.5  # the file in progress counts by its pages read
    clock.now += 14
    meter.file(3, 3, sheet)
    clock.now += 5
    meter.tick()  # said 5 s ago: nothing yet
    clock.now += 5
    meter.tick()  # a workbook that cannot count itself: a line every 10 s, naming it
    meter.finish(failed=False)
    lines = out.getvalue().splitlines()
    assert lines[0] == "add: file 1/3 notes.txt (2.0 KB)"  # no ETA from a few milliseconds
    assert lines[1] == "add: file 2/3 scan.pdf (293.0 KB), 1 read in 4s, ETA 8s"
    assert lines[2] == "OCR scan.pdf (file 2/3): 0/4 pages"
    assert lines[3] == "OCR scan.pdf (file 2/3): 2/4 pages, 3.0 s/page, ETA 6s"
    assert lines[4] == "add: file 3/3 big.xlsx (4.8 MB), 2 read in 24s, ETA 12s"
    assert lines[5] == "add: file 3/3 big.xlsx (4.8 MB), reading for 10s; 2 read before it, ETA 17s"
    assert lines[6] == "add: read 3 files in 34s"


def test_a_web_upload_hears_each_step_and_a_page_eta_every_second(tmp_path):
    notes, scan = tmp_path / "notes.txt", tmp_path / "scan.pdf"
    notes.write_text("A short note.")
    scan.write_bytes(b"%PDF scan")
    heard: list[tuple[str, int, int, str]] = []
    with AddProgress("Reading the upload", report=lambda *step: heard.append(step)) as meter:
        meter.file(1, 2, notes)
        meter.file(2, 2, scan)
        meter.pages(0, 3)
        meter.pages(1, 3)
        before = len(heard)
        time.sleep(2.5)  # one page takes long: the bar is re-sent with the ETA counted down
        ticks = heard[before:]
        meter.pages(3, 3)
    assert heard[0] == ("Reading the upload: file 1/2 notes.txt (13 bytes)", 0, 2, "files")
    assert any(h[0].startswith("Reading the upload: file 2/2 scan.pdf (9 bytes), 1 read in ") and h[1:] == (1, 2, "files") for h in heard)
    assert ("OCR scan.pdf (file 2/2): 0/3 pages", 0, 3, "pages") in heard
    assert any(h[0].startswith("OCR scan.pdf (file 2/2): 1/3 pages, ") and h[1:] == (1, 3, "pages") for h in heard)
    assert len(ticks) >= 2 and all(t[0].startswith("OCR scan.pdf (file 2/2): 1/3 pages") and "ETA" in t[0] for t in ticks)
    assert re.fullmatch(r"Reading the upload: read 2 files in \ds", heard[-1][0]) and heard[-1][1:] == (2, 2, "files")


def test_a_ticker_runs_in_its_callers_context():
    """Gradio finds a request's progress bar through context variables: the ticker's thread must see them."""
    request = contextvars.ContextVar("request")
    seen: list[str] = []

    class Probe(Ticker):
        def tick(self) -> None:
            seen.append(request.get("none"))

    request.set("upload 7")
    with Probe(0.02):
        time.sleep(0.2)
    assert seen and set(seen) == {"upload 7"}


def test_build_steps_are_reported_with_their_eta_and_steps_that_cannot_count_say_their_time():
    heard: list[tuple[str, int, int, str]] = []
    with ProgressLines("embedding", 10, "passages", report=lambda *step: heard.append(step)) as lines:
        lines.update(4)
    assert heard[0][1:] == (0, 10, "passages") and heard[1][0].startswith("embedding: 4/10 passages (40.0%)")
    assert heard[-1][0].startswith("embedding: 4/10 passages") or heard[-1][1] == 10
    said: list[str] = []
    with Heartbeat("loading the embedding model", report=lambda line, *rest: said.append(line), interval=0.05):
        time.sleep(0.2)
    assert len(said) >= 2 and all(re.fullmatch(r"loading the embedding model, \d+s so far", s) for s in said)


@needs_tesseract
def test_ocr_progress_is_heard_on_the_reading_thread(tmp_path):
    """Pages are recognized by worker threads, but each is reported from the thread that reads the file."""
    from ingest.readers import read_document

    (tmp_path / "scan.pdf").write_bytes(image_only_pdf(ONDRA[:2]))
    heard: list[tuple[int, int, int]] = []
    ocr.PageCache._memory.clear()
    with ocr.ocr_settings(ocr.OcrSettings(progress=lambda done, total: heard.append((threading.get_ident(), done, total)), workers=2)):
        read_document(tmp_path / "scan.pdf", tmp_path)
    assert [(done, total) for _, done, total in heard] == [(0, 2), (1, 2), (2, 2)]
    assert {thread for thread, _, _ in heard} == {threading.get_ident()}


def _tesseract_logged(bin_dir: Path, log: Path) -> None:
    """A `tesseract` first on PATH that logs each run, then runs the real one: pages OCR'd are counted."""
    real = subprocess.run(["sh", "-c", "command -v tesseract"], capture_output=True, text=True).stdout.strip()
    bin_dir.mkdir()
    wrapper = bin_dir / "tesseract"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)


def _recognitions(log: Path) -> int:
    """Runs of tesseract that read a page (not `--version` or `--list-langs`)."""
    return sum(1 for line in log.read_text().splitlines() if not line.startswith("--")) if log.exists() else 0


@needs_tesseract
def test_a_killed_add_keeps_its_ocr_pages_and_the_retry_reads_only_the_rest(tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    notes, scan = tmp_path / "notes.txt", tmp_path / "scan.pdf"
    notes.write_text("Ondra Notes\n\nThe ferry of Ondra crosses twice a day.\n")
    scan.write_bytes(image_only_pdf(ONDRA))
    log = tmp_path / "tesseract.log"
    _tesseract_logged(tmp_path / "bin", log)
    env = {**cli_env(settings), "PATH": f"{tmp_path / 'bin'}:{cli_env(settings)['PATH']}"}
    add = [sys.executable, "-m", "app.cli", "add", "--no-build", str(notes), str(scan)]

    # First run: killed (SIGTERM) as soon as one page is read.
    first = subprocess.Popen(add, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    for line in first.stderr:
        lines.append(line.rstrip("\n"))
        if line.startswith("OCR scan.pdf (file 2/2): 1/5 pages"):
            first.send_signal(signal.SIGTERM)
            break
    assert first.wait(timeout=120) == -signal.SIGTERM, "\n".join(lines)
    assert lines[0] == f"add: file 1/2 notes.txt ({notes.stat().st_size} bytes)"
    assert re.fullmatch(r"add: file 2/2 scan\.pdf \(\d+\.\d KB\), 1 read in \d+s(, ETA \d+s)?", lines[1]), lines[1]
    assert lines[2] == "OCR scan.pdf (file 2/2): 0/5 pages"
    assert re.fullmatch(r"OCR scan\.pdf \(file 2/2\): 1/5 pages, \d+\.\d s/page, ETA \d+s", lines[-1]), lines[-1]
    assert not (settings.sources_dir / "scan.pdf").exists()  # nothing half-added
    [cache] = (settings.index_dir / OCR_CACHE).glob("*.json")
    kept = len(json.loads(cache.read_text())["pages"])
    assert 1 <= kept < 5
    read_first = _recognitions(log)

    # The retry: the kept pages come from the cache; only the others are OCR'd.
    log.unlink()
    retry = subprocess.run(add, env=env, capture_output=True, text=True, timeout=600)
    assert retry.returncode == 0, retry.stderr
    ocr_lines = [line for line in retry.stderr.splitlines() if line.startswith("OCR scan.pdf (file 2/2): ")]
    assert ocr_lines[0] == f"OCR scan.pdf (file 2/2): {kept}/5 pages ({kept} from the cache)"
    assert ocr_lines[-1].startswith(f"OCR scan.pdf (file 2/2): 5/5 pages ({kept} from the cache), ")
    assert _recognitions(log) == 5 - kept
    assert len(json.loads(cache.read_text())["pages"]) == 5
    assert "added scan.pdf: The granary of Ondra" in retry.stdout and "(text recognized by OCR)" in retry.stdout
    # The OCR warning names the file and the only languages OCR reads.
    assert "note: scan.pdf was read by OCR. OCR reads English and Spanish only: text in other languages may be misread." in retry.stderr
    assert re.search(r"add: read 2 files in \d+", retry.stderr)
    print(f"\nkilled add: {read_first} tesseract runs started, {kept} pages cached; retry: {_recognitions(log)} pages OCR'd of 5")


def test_the_docs_say_which_languages_ocr_reads():
    sources_doc = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert "English and Spanish models only" in sources_doc
    assert "English and Spanish" in (ROOT / "README.md").read_text(encoding="utf-8")
