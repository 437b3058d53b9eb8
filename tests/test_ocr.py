"""OCR of scanned PDFs and images by tesseract: accuracy, pages, the OCR note, cache, progress, refusals.

The scans are made here: text rendered to a PDF (reportlab), rasterized (pypdfium2) and saved as an
image-only PDF or an image file; the "scanned" page is also rotated, blurred, noised and JPEG'd
(eval/studies/ocr_study.py).
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from app.source_view import source_document, source_html, source_text
from eval.studies.ocr_study import PAGES, cer, rasterize, render_pdf, scanned
from index.build.pipeline import build_index
from index.config import Settings
from index.build.ocr_progress import OCR_CACHE
from index.storage.store import load_version
from ingest import ocr
from ingest.clean import clean_document
from ingest.readers import ReadError, read_document

pytestmark = pytest.mark.skipif(ocr._engine() is None, reason="tesseract is not installed (make setup installs it as root)")

DAM = "The Velden dam holds 61 million cubic metres of water and was finished in 1957."
BAKERY = "The Quarry Lane bakery sells 900 loaves of rye bread every Saturday morning."


def image_only_pdf(pages: list[str], dpi: int = 200) -> bytes:
    """A PDF of page pictures only (no text layer), as a scanner makes."""
    images = [rasterize(render_pdf(text), dpi=dpi).convert("L") for text in pages]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return out.getvalue()


def mixed_pdf() -> bytes:
    """Page 1 with a text layer, page 2 a scanned picture."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.add_page(PdfReader(io.BytesIO(render_pdf(PAGES["english"]))).pages[0])
    writer.add_page(PdfReader(io.BytesIO(image_only_pdf([DAM]))).pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png_bytes(image: Image.Image, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def test_clean_pages_are_read_with_at_most_2_percent_character_errors():
    from concurrent.futures import ThreadPoolExecutor

    names = ("english", "spanish", "figures")
    with ThreadPoolExecutor(2) as pool:  # one tesseract per core, as a build runs them
        texts = list(pool.map(lambda name: ocr.recognize(rasterize(render_pdf(PAGES[name])), "eng+spa"), names))
    for name, text in zip(names, texts, strict=True):
        assert cer(PAGES[name], text) <= 0.02, (name, text)


def test_a_scanned_page_is_read_with_at_most_5_percent_character_errors():
    text = ocr.recognize(scanned(render_pdf(PAGES["english"])), "eng+spa")
    assert cer(PAGES["english"], text) <= 0.05, text


def test_image_only_pdf_keeps_pages_and_says_ocr(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(image_only_pdf([PAGES["english"], DAM]))
    doc = clean_document(read_document(tmp_path / "scan.pdf", tmp_path))
    assert doc.meta.title.endswith("(text recognized by OCR)")
    paragraphs = [(doc.text[p.start : p.end], p.page) for p in doc.paragraphs]
    assert (DAM, 2) in paragraphs
    assert any("212 fishing boats" in text and page == 1 for text, page in paragraphs)


def test_only_the_pages_without_text_are_recognized(tmp_path):
    (tmp_path / "mixed.pdf").write_bytes(mixed_pdf())
    doc = clean_document(read_document(tmp_path / "mixed.pdf", tmp_path))
    assert doc.meta.title.endswith("(p. 2: text recognized by OCR)")
    assert ocr.ocr_pages(doc.meta.title, 2) == [2]
    assert (DAM, 2) in [(doc.text[p.start : p.end], p.page) for p in doc.paragraphs]


def test_images_png_jpeg_and_multipage_tiff(tmp_path):
    page = rasterize(render_pdf(BAKERY), dpi=200).convert("L")
    (tmp_path / "bakery.png").write_bytes(png_bytes(page))
    (tmp_path / "bakery.jpg").write_bytes(png_bytes(page, "JPEG"))
    dam = rasterize(render_pdf(DAM), dpi=200).convert("L")
    out = io.BytesIO()
    page.save(out, "TIFF", save_all=True, append_images=[dam])
    (tmp_path / "both.tiff").write_bytes(out.getvalue())
    for name in ("bakery.png", "bakery.jpg"):
        doc = clean_document(read_document(tmp_path / name, tmp_path))
        assert [(doc.text[p.start : p.end], p.page) for p in doc.paragraphs] == [(BAKERY, 1)], name
        assert doc.meta.title.endswith("(text recognized by OCR)")
    doc = clean_document(read_document(tmp_path / "both.tiff", tmp_path))
    assert [(doc.text[p.start : p.end], p.page) for p in doc.paragraphs] == [(BAKERY, 1), (DAM, 2)]


def test_unreadable_images_and_blank_scans_are_refused(tmp_path):
    (tmp_path / "half.png").write_bytes(png_bytes(Image.new("L", (400, 300), 255))[:60])
    (tmp_path / "blank.png").write_bytes(png_bytes(Image.new("L", (800, 600), 255)))
    (tmp_path / "blank.pdf").write_bytes(png_bytes(Image.new("L", (800, 600), 255), "PDF"))
    with pytest.raises(ReadError, match="corrupt or unreadable image"):
        read_document(tmp_path / "half.png", tmp_path)
    with pytest.raises(ReadError, match="no text recognized"):
        read_document(tmp_path / "blank.png", tmp_path)
    with pytest.raises(ReadError, match="OCR recognized none"):
        read_document(tmp_path / "blank.pdf", tmp_path)


def test_without_tesseract_a_scan_is_refused_saying_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(ocr, "_engine", lambda: None)
    (tmp_path / "scan.pdf").write_bytes(image_only_pdf([DAM]))
    with pytest.raises(ReadError, match="apt-get install tesseract-ocr"):
        read_document(tmp_path / "scan.pdf", tmp_path)


def test_build_answers_from_scans_caches_pages_and_shows_progress(tmp_path, embedder, capsys, monkeypatch):
    from app.cli import main as cli_main

    sources = tmp_path / "sources"
    sources.mkdir()
    scan = image_only_pdf([PAGES["english"], DAM, PAGES["figures"]])
    (sources / "dam-report.pdf").write_bytes(scan)
    (sources / "bakery.png").write_bytes(png_bytes(rasterize(render_pdf(BAKERY), dpi=200).convert("L")))
    (sources / "typed.pdf").write_bytes(render_pdf(PAGES["spanish"]))
    settings = Settings(sources_dir=sources, index_dir=tmp_path / "index")
    ocr.PageCache._memory.clear()
    report = build_index(settings, embedder=embedder, full=True, progress_lines=True)
    assert report.skipped == () and report.sources == 3
    err = capsys.readouterr().err
    assert "OCR dam-report.pdf: 3/3 pages" in err and "OCR bakery.png: 1/1 pages" in err
    assert "OCR typed.pdf" not in err  # a text layer needs no OCR

    # Cached by content, as JSON: a full rebuild (and a renamed copy) recognizes nothing again.
    cached = json.loads((settings.index_dir / OCR_CACHE / f"{ocr.hashlib.sha256(scan).hexdigest()}.json").read_text())
    assert sorted(cached["pages"]) == ["1", "2", "3"] and cached["key"]["engine"] == "tesseract"
    ocr.PageCache._memory.clear()
    monkeypatch.setattr(ocr, "recognize", lambda *a: pytest.fail("a cached page was recognized again"))
    (sources / "dam-report.pdf").rename(sources / "dam-report-renamed.pdf")
    again = build_index(settings, embedder=embedder, full=True)
    assert again.skipped == ()

    capsys.readouterr()
    code = cli_main(["ask", "How much water does the Velden dam hold?", "--json", "--sources-dir", str(sources), "--index-dir", str(settings.index_dir)])
    first = json.loads(capsys.readouterr().out)[0]
    assert code == 0 and first["source"] == "dam-report-renamed.pdf" and first["page"] == 2
    assert "61 million cubic metres" in first["text"] and "text recognized by OCR" in first["title"]

    live = load_version(settings.index_dir)
    doc = source_document(live, "dam-report-renamed.pdf")
    assert doc.ocr_pages == (1, 2, 3)
    html = source_html(doc)
    assert "was recognized by OCR from the page image" in html and "p. 2 · text recognized by OCR" in html
    assert "(text recognized by OCR)" in source_text(doc)
    typed = source_document(live, "typed.pdf")
    assert typed.ocr_pages == () and "OCR" not in source_html(typed)

    # A title edited in sources.toml drops the note from the title, not from the citations.
    toml = sources / "sources.toml"
    toml.write_text((toml.read_text(encoding="utf-8") if toml.exists() else "") + '\n["dam-report-renamed.pdf"]\ntitle = "Velden dam survey"\n', encoding="utf-8")
    build_index(settings, embedder=embedder)
    capsys.readouterr()
    assert cli_main(["ask", "How much water does the Velden dam hold?", "--json", "--sources-dir", str(sources), "--index-dir", str(settings.index_dir)]) == 0
    first = json.loads(capsys.readouterr().out)[0]
    assert first["title"] == "Velden dam survey" and first["ocr"] is True
    assert cli_main(["ask", "How much water does the Velden dam hold?", "--sources-dir", str(sources), "--index-dir", str(settings.index_dir)]) == 0
    assert "Velden dam survey" in (out := capsys.readouterr().out) and "text recognized by OCR" in out


def test_the_source_view_shows_an_image_source_as_its_page(tmp_path):
    from app.page_image import page_png

    path = tmp_path / "bakery.png"
    data = png_bytes(rasterize(render_pdf(BAKERY), dpi=200).convert("L"))
    path.write_bytes(data)
    png = page_png(path, ocr.hashlib.sha256(data).hexdigest(), 1)
    assert png is not None and Image.open(io.BytesIO(png)).width <= 900
    assert page_png(path, ocr.hashlib.sha256(data).hexdigest(), 2) is None
    assert page_png(path, "0" * 64, 1) is None  # not the file that was indexed


def test_a_ray_read_task_recognizes_with_the_index_cache_and_reports_pages(tmp_path, capsys):
    """The function a Ray read task runs (index/build/ray_runner.py), called here without a cluster."""
    from index.build.stages import SourceFile
    from index.build.ray_runner import _cut_files
    from ingest.readers import fingerprint_bytes

    sources = tmp_path / "sources"
    sources.mkdir()
    data = image_only_pdf([DAM])
    (sources / "scan.pdf").write_bytes(data)
    ocr.PageCache._memory.clear()
    source = SourceFile(sources / "scan.pdf", "scan.pdf", data, fingerprint_bytes(data))
    [outcome] = _cut_files([source], sources, Settings().model, 128, 0, tmp_path / "cache")
    assert not outcome.skipped and any(DAM in text for text, _, _ in outcome.items)
    assert outcome.items[0][2].page == 1
    assert (tmp_path / "cache" / f"{fingerprint_bytes(data)}.json").is_file()
    assert "OCR scan.pdf: 1/1 pages" in capsys.readouterr().err


def test_an_added_scan_is_recognized_once_and_its_pages_reach_the_index_cache(tmp_path, embedder, monkeypatch):
    from ingest.library import add_sources

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    data = png_bytes(rasterize(render_pdf(BAKERY), dpi=200).convert("L"))
    (incoming / "bakery.png").write_bytes(data)
    ocr.PageCache._memory.clear()
    added, skipped = add_sources([incoming], tmp_path / "sources")  # checks the file: recognized here
    assert [a.file for a in added] == ["bakery.png"] and skipped == []
    monkeypatch.setattr(ocr, "recognize", lambda *a: pytest.fail("recognized twice"))
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    assert build_index(settings, embedder=embedder).skipped == ()
    assert (settings.index_dir / OCR_CACHE / f"{ocr.hashlib.sha256(data).hexdigest()}.json").is_file()
