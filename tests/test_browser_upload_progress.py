"""Issue 34, item 9, in a real browser: a web upload of a scanned PDF shows which file, which OCR page
and an ETA, then each build step, on the report box only (the Sources tab stays usable), and never an
estimate from an earlier, shorter upload."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from index.build.pipeline import build_index
from index.config import Settings
from ingest import ocr
from tests.conftest import running_server
from tests.test_add_progress import ONDRA
from tests.test_ocr import image_only_pdf

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian chromium not installed"),
    pytest.mark.skipif(ocr._engine() is None, reason="tesseract is not installed"),
]
# Every status tracker the page shows now (Gradio's overlay on a component while an event runs).
SHOWN_TRACKERS = """() => [...document.querySelectorAll('[data-testid=status-tracker]')]
    .filter(t => !t.className.includes('hide'))
    .map(t => ({owner: (t.closest('[id]') || {}).id || '', text: t.innerText.replace(/\\s+/g, ' ').trim()}))"""


def _status(page) -> str:
    return page.locator("#vb-status textarea").input_value()


def test_an_upload_shows_its_file_pages_eta_and_build_steps_on_the_report_box_only(tmp_path, embedder):
    from playwright.sync_api import sync_playwright

    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    settings.sources_dir.mkdir()
    (settings.sources_dir / "harbour.txt").write_text("Harbour Notes\n\nThe harbour survey counted 212 fishing boats in 2024.\n")
    build_index(settings, embedder=embedder)
    small, scan = tmp_path / "upload" / "small.txt", tmp_path / "upload" / "scan.pdf"
    small.parent.mkdir()
    small.write_text("Lamp Notes\n\nThe lamp of the west pier is red.\n")
    # Enough pages that the ETA spans whole seconds on a fast machine too (a page takes 0.2-0.5 s there).
    scan.write_bytes(image_only_pdf(ONDRA * 4))

    with running_server(settings, tmp_path / "serve.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.get_by_role("tab", name="Sources").click()
        page.wait_for_function(f"() => ({SHOWN_TRACKERS})().length === 0", timeout=120_000)  # the page's own loads
        # A quick upload first: Gradio now holds an average time for uploads, which a scan far exceeds.
        page.locator("#vb-upload input[type=file]").set_input_files([str(small)])
        page.wait_for_function("() => document.querySelector('#vb-status textarea').value.includes('Indexed')", timeout=300_000)
        page.wait_for_function(f"() => ({SHOWN_TRACKERS})().length === 0", timeout=60_000)

        # Every text a tracker shows is recorded by the page itself: a step shorter than a poll is still seen.
        page.evaluate(f"""() => {{ window.vbSeen = []; const shown = {SHOWN_TRACKERS};
            const record = () => window.vbSeen.push(shown());
            new MutationObserver(record).observe(document.body, {{subtree: true, childList: true, characterData: true, attributes: true}}); }}""")
        page.locator("#vb-upload input[type=file]").set_input_files([str(scan)])
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and "Added scan.pdf" not in _status(page):
            page.wait_for_timeout(400)
        seen: list[list[dict]] = page.evaluate("() => window.vbSeen")
        final = _status(page)
        browser.close()

    texts = [t["text"] for snapshot in seen for t in snapshot]
    assert all(t["owner"] == "vb-status" for snapshot in seen for t in snapshot), "another part of the tab was greyed out"
    assert any("Reading the upload: file 1/1 scan.pdf (" in t for t in texts), texts[:5]
    pages = [t for t in texts if "OCR scan.pdf: " in t]
    assert any(re.search(r"OCR scan\.pdf: \d+/20 pages, \d+\.\d s/page, ETA \d+s", t) for t in pages), pages
    etas = [re.search(r"ETA (\d+)s", t) for t in pages]
    assert len({m.group(1) for m in etas if m}) >= 2  # counted down while a page is read, not frozen
    assert any("Rebuilding the index: " in t for t in texts)
    # Gradio's own estimate ("12.0/4.1s", the last upload's time) is never shown once the upload reports.
    reported = texts[next(i for i, t in enumerate(texts) if "Reading the upload: " in t) :]
    assert not [t for t in reported if re.search(r"\d\.\ds?/\d", t)], [t for t in reported if "/" in t][:5]
    assert "Added scan.pdf: The granary of Ondra" in final and "Indexed 3 sources" in final
    assert "Note: scan.pdf was read by OCR. OCR reads English and Spanish only" in final
