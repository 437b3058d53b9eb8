"""The original page of a PDF or image source as a PNG (pypdfium2 or Pillow, no network), for the source view.

An image source (read by OCR) is its own page: the picture beside the recognized text is the file itself
(the frame of a multi-page TIFF), scaled to the view's width.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from functools import lru_cache
from pathlib import Path

from ingest.ocr import IMAGE_SUFFIXES, PDFIUM_LOCK

MAX_PDF_BYTES = 50 * 2**20  # the upload limit; bigger files are not re-read for a picture
PAGE_WIDTH_PX = 900
# Sources whose pages can be shown as pictures: PDFs and the images OCR reads (ingest/ocr.py).
PAGE_IMAGE_SUFFIXES = (".pdf", *IMAGE_SUFFIXES)
log = logging.getLogger("verbatim.web")
# PDFium is not thread-safe; the app serves several users at once, and a build in it may OCR (one lock for both).
_PDFIUM = PDFIUM_LOCK


@lru_cache(maxsize=32)
def _render(path: str, fingerprint: str, page: int, mtime_ns: int, size: int) -> bytes | None:
    # mtime and size are in the key so a file replaced under the same name is read again.
    data = Path(path).read_bytes()
    if hashlib.sha256(data).hexdigest() != fingerprint:
        return None  # not the file that was indexed: its picture could contradict the text shown
    if not path.lower().endswith(".pdf"):
        return _image_page(data, page)
    import pypdfium2 as pdfium

    with _PDFIUM:
        pdf = pdfium.PdfDocument(data)
        try:
            if not 1 <= page <= len(pdf):
                return None
            sheet = pdf[page - 1]
            scale = PAGE_WIDTH_PX / max(sheet.get_width(), 1.0)
            image = sheet.render(scale=scale).to_pil()
        finally:
            pdf.close()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _image_page(data: bytes, page: int) -> bytes | None:
    """Frame `page` (1-based) of an image file, upright and at most the view's width, as PNG."""
    from PIL import Image, ImageOps

    image = Image.open(io.BytesIO(data))
    if not 1 <= page <= getattr(image, "n_frames", 1):
        return None
    image.seek(page - 1)
    frame = ImageOps.exif_transpose(image)
    frame.thumbnail((PAGE_WIDTH_PX, PAGE_WIDTH_PX * 4))
    out = io.BytesIO()
    frame.convert("RGB" if frame.mode not in ("L", "RGB") else frame.mode).save(out, format="PNG", optimize=True)
    return out.getvalue()


def page_png(path: Path, fingerprint: str, page: int) -> bytes | None:
    """PNG of page `page` (1-based) of the PDF or image at `path`, or None when the file is missing, too big,
    changed since it was indexed (`fingerprint` is the sha256 of the indexed bytes) or unreadable."""
    try:
        stat = path.stat()
    except OSError:
        return None  # removed or renamed since it was indexed; the text view still stands
    try:
        if path.suffix.lower() not in PAGE_IMAGE_SUFFIXES or stat.st_size > MAX_PDF_BYTES:
            return None
        return _render(str(path), fingerprint, page, stat.st_mtime_ns, stat.st_size)
    except Exception:  # a picture is a convenience: any failure leaves the text view as it is
        log.warning("could not render page %s of %s", page, path, exc_info=True)
        return None


def page_data_url(path: Path, fingerprint: str, page: int) -> str:
    """The page as a data: URL for an <img>, or "" when it cannot be rendered."""
    png = page_png(path, fingerprint, page)
    return f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}" if png else ""
