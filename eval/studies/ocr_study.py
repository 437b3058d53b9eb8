"""Which OCR engine reads sources best: tesseract (Debian's tesseract-ocr, via pytesseract) or
rapidocr-onnxruntime (PP-OCRv4 ONNX models in its wheel), by character error rate and speed.

Pages are rendered from known text (reportlab -> PDF -> pypdfium2 at 300 dpi), so the reference is
exact; the "scanned" page is the same kind of page rendered at 200 dpi, rotated 1.2 degrees, blurred,
given noise and saved as a quality-55 JPEG, the way a phone or office scanner degrades a printout.
Speed is per page on one thread, beside reading the text layer of the same PDF with pypdf (the
path a PDF with text takes): the ratio is what OCR costs on top.

    python -m eval.studies.ocr_study [--out docs/ocr-study.md] [--pdf-pages 20]

`--pdf-pages N` also times indexing an N-page scanned PDF (image only) against the same pages with a
text layer, through `build_index` with the bundled model (OCR on every core, no cache).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # tesseract: one thread per page, pages run side by side

PAGES = {
    "english": (
        "The harbour survey counted 212 fishing boats in 2024, most of them under ten metres long. "
        "Thirty-one boats were built before 1980 and need new engines; the port authority estimates "
        "the repairs at 4.2 million euros over five years. Catches of cod fell by 18% between 2019 and "
        "2023, while mackerel landings rose to 41,500 tonnes. The report recommends a second slipway, a "
        "cold store for 600 pallets and dredging of the northern channel to a depth of 7.5 metres. "
        "Fishers interviewed for the survey named fuel prices (62 of 90 answers) and the shortage of "
        "crew (47 answers) as their main worries for the coming decade."
    ),
    "spanish": (
        "El informe del Ministerio de Justicia señala que la población penitenciaria alcanzó 119.000 "
        "personas en marzo de 2024, la tasa de encarcelamiento más alta del mundo. Según la Comisión, "
        "el régimen de excepción se prorrogó en 30 ocasiones y la Asamblea aprobó reformas que permiten "
        "juicios colectivos de hasta 900 acusados. Organizaciones de derechos humanos documentaron 261 "
        "muertes bajo custodia del Estado; el Gobierno atribuye la caída de los homicidios, de 38 a 2,4 "
        "por cada 100.000 habitantes, a la política de seguridad. ¿Cuánto durará? Nadie lo sabe aún."
    ),
    "figures": (
        "Table 3 lists the budget lines approved on 14 March 2025. Roads: 8,512,300 EUR (up 3.1%). "
        "Schools: 2,087,040 EUR (down 0.8%). Water and sewers: 1,204,775 EUR. Reference numbers "
        "RX-4471/B and QZ-0093/A were assigned by the auditor, who can be reached at audit@vessby.org "
        "or on +46 31 555 0192. Total: 11,804,115 EUR; reserve fund 5% of the total, paid by 30 June."
    ),
}


@dataclass(frozen=True)
class Row:
    engine: str
    page: str
    cer: float
    seconds: float


def levenshtein(a: str, b: str) -> int:
    """Edit distance by the two-row dynamic programme (pages are a few thousand characters)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def normalize(text: str) -> str:
    """Whitespace folded to single spaces: line breaks are layout, not characters read wrong."""
    return " ".join(text.split())


def cer(reference: str, hypothesis: str) -> float:
    reference, hypothesis = normalize(reference), normalize(hypothesis)
    return levenshtein(reference, hypothesis) / max(1, len(reference))


def render_pdf(text: str) -> bytes:
    """One A4 page of `text` in 11 pt Helvetica, wrapped at word boundaries."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    y = 780
    for line in simpleSplit(text, "Helvetica", 11, 470):
        pdf.setFont("Helvetica", 11)
        pdf.drawString(60, y, line)
        y -= 16
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def rasterize(pdf: bytes, dpi: int = 300):
    """The first page of `pdf` as an RGB image. Under the lock OCR and the source view share: PDFium is not
    thread-safe (two threads rendering at once crashed a test worker in libpdfium)."""
    import pypdfium2 as pdfium

    from ingest.ocr import PDFIUM_LOCK

    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(pdf)
        try:
            return document[0].render(scale=dpi / 72).to_pil().convert("RGB")
        finally:
            document.close()


def scanned(pdf: bytes, seed: int = 0):
    """A printed-and-scanned look: 200 dpi, grey, 1.2 degrees askew, blur, noise, JPEG at quality 55."""
    import numpy as np
    from PIL import Image, ImageFilter

    image = rasterize(pdf, dpi=200).convert("L")
    image = image.rotate(1.2, resample=Image.BICUBIC, expand=True, fillcolor=255)
    image = image.filter(ImageFilter.GaussianBlur(0.8))
    pixels = np.asarray(image, dtype=np.float32)
    pixels += np.random.default_rng(seed).normal(0, 14, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=55)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def tesseract_engine() -> Callable:
    import pytesseract

    return lambda image: pytesseract.image_to_string(image, lang="eng+spa")


def rapidocr_engine() -> Callable:
    import numpy as np
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def read(image) -> str:
        result, _ = engine(np.asarray(image))
        return "\n".join(text for _, text, _ in result or [])

    return read


def text_layer_seconds(pdf: bytes, repeats: int = 20) -> float:
    """Seconds per page to read the text layer with pypdf (the path of a PDF with text)."""
    from pypdf import PdfReader

    started = time.perf_counter()
    for _ in range(repeats):
        PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    return (time.perf_counter() - started) / repeats


def run() -> tuple[list[Row], float, float]:
    engines = {"tesseract 5 (eng+spa)": tesseract_engine(), "rapidocr-onnxruntime (PP-OCRv4)": rapidocr_engine()}
    images = {}
    for name, text in PAGES.items():
        pdf = render_pdf(text)
        images[f"{name} (clean, 300 dpi)"] = (text, rasterize(pdf))
    images["english (scanned: 200 dpi, askew, noise, JPEG)"] = (PAGES["english"], scanned(render_pdf(PAGES["english"])))
    images["spanish (scanned: 200 dpi, askew, noise, JPEG)"] = (PAGES["spanish"], scanned(render_pdf(PAGES["spanish"]), seed=1))
    rows = []
    for engine, read in engines.items():
        read(images[next(iter(images))][1])  # warm up: model loads are not per-page costs
        for page, (text, image) in images.items():
            started = time.perf_counter()
            hypothesis = read(image)
            rows.append(Row(engine, page, cer(text, hypothesis), time.perf_counter() - started))
    baseline = statistics.mean(text_layer_seconds(render_pdf(t)) for t in PAGES.values())
    render = time.perf_counter()
    for _ in range(5):
        rasterize(render_pdf(PAGES["english"]))
    render_seconds = (time.perf_counter() - render) / 5
    return rows, baseline, render_seconds


def table(rows: list[Row], baseline: float, render_seconds: float) -> str:
    lines = [
        "| engine | page | CER | seconds/page | × text layer |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row.engine} | {row.page} | {100 * row.cer:.2f}% | {row.seconds:.2f} | {row.seconds / baseline:,.0f} |")
    lines.append("")
    lines.append("| engine | mean CER clean | mean CER scanned | mean seconds/page |")
    lines.append("|---|---:|---:|---:|")
    for engine in dict.fromkeys(r.engine for r in rows):
        mine = [r for r in rows if r.engine == engine]
        clean = statistics.mean(r.cer for r in mine if "clean" in r.page)
        scan = statistics.mean(r.cer for r in mine if "scanned" in r.page)
        lines.append(f"| {engine} | {100 * clean:.2f}% | {100 * scan:.2f}% | {statistics.mean(r.seconds for r in mine):.2f} |")
    lines.append("")
    lines.append(f"Text layer (pypdf, same pages): {1000 * baseline:.1f} ms/page; rendering a page at 300 dpi (pypdfium2): {1000 * render_seconds:.0f} ms.")
    return "\n".join(lines)


def pdf_timing(pages: int) -> str:
    """Seconds to build an index of an N-page scanned PDF and of the same pages as a text PDF."""
    import tempfile
    from pathlib import Path

    from index.build.pipeline import build_index
    from index.config import Settings
    from index.models.embed import get_embedder
    from ingest import ocr

    texts = [PAGES[name] for name in ("english", "spanish", "figures")]
    texts = [f"Page {n + 1}. " + texts[n % len(texts)] for n in range(pages)]
    images = [scanned(render_pdf(text), seed=n).convert("L") for n, text in enumerate(texts)]
    scan = io.BytesIO()
    images[0].save(scan, "PDF", resolution=200, save_all=True, append_images=images[1:])
    typed = _text_pdf(texts)
    embedder = get_embedder(Settings().model)
    rows = []
    for name, data in (("text layer", typed), ("scanned (OCR)", scan.getvalue())):
        with tempfile.TemporaryDirectory() as root:
            sources = Path(root) / "sources"
            sources.mkdir()
            (sources / "report.pdf").write_bytes(data)
            ocr.PageCache._memory.clear()
            started = time.perf_counter()
            report = build_index(Settings(sources_dir=sources, index_dir=Path(root) / "index"), embedder=embedder, full=True)
            seconds = time.perf_counter() - started
            rows.append((name, seconds, report.passages))
    base = rows[0][1]
    lines = [f"| {pages}-page PDF | build seconds | seconds/page | × text layer | passages |", "|---|---:|---:|---:|---:|"]
    for name, seconds, passages in rows:
        lines.append(f"| {name} | {seconds:.1f} | {seconds / pages:.2f} | {seconds / base:.1f} | {passages} |")
    return "\n".join(lines)


def _text_pdf(texts: list[str]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for text in texts:
        writer.add_page(PdfReader(io.BytesIO(render_pdf(text))).pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the table (Markdown) to this file as well")
    parser.add_argument("--pdf-pages", type=int, default=0, help="also time indexing a scanned PDF of this many pages")
    parser.add_argument("--skip-engines", action="store_true", help="only the PDF timing")
    args = parser.parse_args()
    random.seed(0)
    parts = []
    if not args.skip_engines:
        rows, baseline, render_seconds = run()
        parts.append(table(rows, baseline, render_seconds))
    if args.pdf_pages:
        parts.append(pdf_timing(args.pdf_pages))
    text = "\n\n".join(parts)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
