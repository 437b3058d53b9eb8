"""Text recognized by OCR: PDF pages without a text layer and images (.png, .jpg, .tiff).

The engine is Debian's tesseract-ocr (English and Spanish models) through pytesseract, chosen by
eval/studies/ocr_study.py (docs/ocr-study.md): 0.1% character errors on clean and scanned pages
where rapidocr-onnxruntime's PP-OCRv4 models made 17-20%, and 3x faster per page.

- Pages are rendered at the resolution of the scan they hold (150-300 dpi: a 200-dpi scan rendered at
  300 only gives tesseract twice the pixels to read, at twice the time, for the same text), text-less
  pages without a picture at 300 dpi (pypdfium2; PDFium is not thread-safe, so one page at a time), and
  recognized side by side, one tesseract process per worker thread with one OpenMP thread each
  (several OpenMP threads per process on a shared core only wait for each other).
- Results are cached by the file's content: a JSON file per sha256 under the cache folder the build
  sets (index dir / ocr-cache), page by page, so a rebuild, a rename or a build killed half-way never
  recognizes a page twice; the process also keeps recent results (an add and its build read once).
- A document whose text came from OCR says so in its title ("... (text recognized by OCR)"), so
  every citation and the source view tell the reader a quote may differ from the page.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ingest.extracted import PAGE_BREAK, Extracted, FormatError, plain_reason
from ingest.limits import MAX_OCR_PIXELS

OCR_NOTE = "text recognized by OCR"
# Only these tesseract models are used (Engine): a page in another language comes out in their letters
# (a German "Brückenwärter" reads "Bruckenwarter"), so every OCR warning says so.
OCR_LANGUAGES_NOTE = "OCR reads English and Spanish only: text in other languages may be misread"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
DPI = 300  # pages without a scan in them (vector drawings of text), and the most a scan is rendered at
MIN_DPI = 150  # a scan of lower resolution is enlarged to this: tesseract reads small glyphs badly
PAGE_TIMEOUT_S = 180  # a page tesseract has not read in 3 minutes is not going to be read
CACHE_FORMAT = 1
INSTALL_HINT = (
    "OCR needs tesseract: install it with `sudo apt-get install tesseract-ocr tesseract-ocr-spa` "
    "(`make setup` does, when run as root)"
)

# (done, total) pages of the document being read.
PageProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class OcrSettings:
    """Where recognized pages are cached, who hears of each page, and how many pages run at once."""

    cache_dir: Path | None = None
    progress: PageProgress | None = None
    workers: int = max(1, os.cpu_count() or 1)


_SETTINGS: ContextVar[OcrSettings] = ContextVar("ocr_settings", default=OcrSettings())
# PDFium is not thread-safe: every use of it in a process takes this lock (the web app's page pictures
# too, app/page_image.py), so a build's OCR and a reader's page picture never render at once.
PDFIUM_LOCK = threading.Lock()
_PDFIUM = PDFIUM_LOCK


@contextmanager
def ocr_settings(settings: OcrSettings) -> Iterator[None]:
    """Use `settings` for the OCR done inside the block (a build sets its cache folder and progress)."""
    token = _SETTINGS.set(settings)
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def ocr_language_note(files: list[str]) -> str:
    """The warning said when files were just read by OCR ("" for none): which ones, and its languages."""
    if not files:
        return ""
    return f"{', '.join(files)} {'was' if len(files) == 1 else 'were'} read by OCR. {OCR_LANGUAGES_NOTE}."


# ---------------------------------------------------------------- the engine


@dataclass(frozen=True)
class Engine:
    """The installed tesseract: its version and the languages it reads with (English, and Spanish when installed)."""

    version: str
    languages: str

    @property
    def key(self) -> dict:
        return {"format": CACHE_FORMAT, "engine": "tesseract", "version": self.version, "languages": self.languages, "dpi": f"scan's own, {MIN_DPI}-{DPI}"}


@lru_cache(maxsize=1)
def _engine() -> Engine | None:
    if shutil.which("tesseract") is None:
        return None
    import pytesseract

    try:
        installed = set(pytesseract.get_languages(config=""))
        version = str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError, RuntimeError):
        return None
    languages = [lang for lang in ("eng", "spa") if lang in installed]
    return Engine(version, "+".join(languages)) if languages else None


def engine() -> Engine:
    """The OCR engine, or FormatError saying how to install it."""
    found = _engine()
    if found is None:
        raise FormatError(f"the file needs OCR, which is not available here. {INSTALL_HINT}")
    return found


def recognize(image, languages: str) -> str:
    """Text of one page image (PIL), by tesseract with its automatic page segmentation."""
    import pytesseract

    # pytesseract starts tesseract with its module's `environ`: one OpenMP thread per process.
    pytesseract.pytesseract.environ = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        return pytesseract.image_to_string(image, lang=languages, timeout=PAGE_TIMEOUT_S)
    except RuntimeError as exc:  # pytesseract's timeout
        raise FormatError(f"OCR gave up on a page after {PAGE_TIMEOUT_S} s") from exc
    except pytesseract.TesseractError as exc:
        raise FormatError(f"OCR failed ({exc.message or exc})") from exc


# ---------------------------------------------------------------- the cache


class PageCache:
    """Recognized pages of one file (by its sha256): in memory for the process, on disk as JSON."""

    _memory: OrderedDict[str, dict[str, str]] = OrderedDict()
    _memory_lock = threading.Lock()
    MEMORY_FILES = 64

    def __init__(self, digest: str, key: dict, cache_dir: Path | None) -> None:
        self.digest, self.key = digest, key
        self.path = cache_dir / f"{digest}.json" if cache_dir is not None else None
        self.memory_key = f"{digest}:{json.dumps(key, sort_keys=True)}"
        self.lock = threading.Lock()
        stored = self._stored()
        self.pages: dict[str, str] = {**(stored or {}), **(self._remembered() or {})}
        if self.pages and self.path is not None and self.pages != stored:
            self._write(dict(self.pages))  # read before the build set a cache folder (an add, an upload): keep it there too

    def _remembered(self) -> dict[str, str] | None:
        with self._memory_lock:
            return self._memory.get(self.memory_key)

    def _stored(self) -> dict[str, str] | None:
        if self.path is None:
            return None
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # no cache yet, or a damaged one: the pages are recognized again
        if record.get("key") != self.key or not isinstance(record.get("pages"), dict):
            return None  # another engine version or languages: its text may differ
        return {str(k): str(v) for k, v in record["pages"].items()}

    def get(self, page: int) -> str | None:
        return self.pages.get(str(page))

    def put(self, page: int, text: str) -> None:
        """Keep a page's text; written to disk at once (atomically), so a killed build keeps its pages."""
        with self.lock:
            self.pages[str(page)] = text
            snapshot = dict(self.pages)
        with self._memory_lock:
            self._memory[self.memory_key] = snapshot
            self._memory.move_to_end(self.memory_key)
            while len(self._memory) > self.MEMORY_FILES:
                self._memory.popitem(last=False)
        self._write(snapshot)

    def _write(self, pages: dict[str, str]) -> None:
        if self.path is None:
            return
        with self.lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_text(json.dumps({"key": self.key, "pages": pages}, ensure_ascii=False), encoding="utf-8")
                tmp.replace(self.path)
            except OSError:
                pass  # a cache that cannot be written (a read-only or remote disk) only costs time


# ---------------------------------------------------------------- pages -> text


def recognize_pages(data: bytes, pages: list[int], render: Callable[[int], object]) -> dict[int, str]:
    """Text of each of `pages` (1-based) of the file `data`: cached pages as they are, the others
    rendered by `render(page)` (serially: renderers are not thread-safe) and recognized side by side.
    Each page is cached as it is read; progress is reported from the calling thread (a callback bound to
    the caller's context, as a web request's progress bar is, would not be heard from a worker)."""
    found = engine()
    settings = _SETTINGS.get()
    cache = PageCache(hashlib.sha256(data).hexdigest(), found.key, settings.cache_dir)
    texts = {page: cache.get(page) for page in pages}
    todo = [page for page in pages if texts[page] is None]
    done = len(pages) - len(todo)
    progress = settings.progress
    if progress is not None:
        progress(done, len(pages))
    if not todo:
        return texts  # type: ignore[return-value]

    def read(page: int) -> tuple[int, str]:
        with _PDFIUM:
            image = render(page)
        text = recognize(image, found.languages)
        cache.put(page, text)
        return page, text

    with ThreadPoolExecutor(max_workers=max(1, min(settings.workers, len(todo))), thread_name_prefix="ocr") as pool:
        for future in as_completed([pool.submit(read, page) for page in todo]):
            page, text = future.result()
            texts[page] = text
            done += 1
            if progress is not None:
                progress(done, len(pages))
    return texts  # type: ignore[return-value]


def _page_list(pages: list[int]) -> str:
    """[2, 3, 4, 7] -> '2–4, 7'."""
    runs: list[list[int]] = []
    for page in sorted(pages):
        if runs and page == runs[-1][-1] + 1:
            runs[-1].append(page)
        else:
            runs.append([page])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)


def _first_heading(pages: list[str]) -> str:
    """The heading-like line cleaning would make the title of: the first short line without a sentence end."""
    from ingest.clean import clean_text, is_heading  # here: ingest.clean imports the formats module

    paragraphs = [p for p, _ in clean_text(PAGE_BREAK.join(pages))]
    heading = next((p for p in paragraphs if is_heading(p)), "")
    if heading:
        return heading
    words = " ".join(paragraphs[:1]).split()
    return " ".join(words[:8]) + ("…" if len(words) > 8 else "")


def ocr_title(title: str, pages: list[str], recognized: list[int]) -> str:
    """The title a document with OCR'd pages is cited by: its own (or its first heading), and the note."""
    base = title.strip() or _first_heading(pages) or "Untitled scan"
    if len(recognized) >= len(pages):
        return f"{base} ({OCR_NOTE})"
    which = _page_list(recognized)
    return f"{base} (p. {which}: {OCR_NOTE})"


_NOTE = re.compile(r"\((?:p\. ([\d–, ]+): )?" + re.escape(OCR_NOTE) + r"\)$")


def ocr_pages(title: str, page_count: int | None) -> list[int] | None:
    """Which pages of a source were read by OCR, from the note in its own title; None when none were."""
    found = _NOTE.search(title or "")
    if not found:
        return None
    if not found.group(1):
        return list(range(1, (page_count or 1) + 1))
    pages: list[int] = []
    for part in found.group(1).split(","):
        first, _, last = part.strip().partition("–")
        if first.isdigit():
            pages.extend(range(int(first), int(last or first) + 1))
    return pages


# ---------------------------------------------------------------- PDF pages and images


def ocr_pdf_pages(data: bytes, pages: list[int], password: str = "") -> dict[int, str]:
    """Text of the given pages (1-based) of a PDF, read by OCR."""
    import pypdfium2 as pdfium

    try:
        with _PDFIUM:
            document = pdfium.PdfDocument(data, password=password or None)
    except pdfium.PdfiumError as exc:
        raise FormatError(f"the PDF cannot be rendered for OCR ({plain_reason(exc)})") from exc
    try:
        with _PDFIUM:  # the page boxes, before any page is rendered: a 454-byte PDF can hold a 100-inch page
            most = {page: _fit_dpi(page, *document.get_page_size(page - 1)) for page in pages}
    except BaseException:
        with _PDFIUM:
            document.close()
        raise

    def render(page: int):
        sheet = document[page - 1]
        try:
            return sheet.render(scale=min(_page_dpi(sheet), most[page]) / 72, grayscale=True).to_pil()
        finally:
            sheet.close()

    try:
        return recognize_pages(data, pages, render)
    finally:
        with _PDFIUM:
            document.close()


def _fit_dpi(page: int, width_pt: float, height_pt: float) -> float:
    """The highest resolution page `page` (its box in points) renders at within MAX_OCR_PIXELS; a page
    that would exceed it even at MIN_DPI is refused (no real report has one)."""
    area = max(width_pt, 1.0) * max(height_pt, 1.0)
    fit = 72 * math.sqrt(MAX_OCR_PIXELS / area)
    if fit < MIN_DPI:
        raise FormatError(
            f"page {page} is {width_pt:,.0f} x {height_pt:,.0f} pt ({width_pt / 72:,.0f} x {height_pt / 72:,.0f} in), "
            f"too large to read by OCR: refused (at most {MAX_OCR_PIXELS // 1_000_000} Mpixel at {MIN_DPI} dpi)"
        )
    return fit


def _page_dpi(sheet) -> float:
    """The resolution to render a page at: that of the largest picture on it (a scanned page is one
    picture), kept between MIN_DPI and DPI; DPI for a page without one."""
    import pypdfium2 as pdfium

    best: tuple[float, float] | None = None  # (area on the page, its dpi)
    try:
        for obj in sheet.get_objects(filter=(pdfium.raw.FPDF_PAGEOBJ_IMAGE,), max_depth=2):
            meta = obj.get_metadata()
            left, bottom, right, top = obj.get_bounds()
            area = abs((right - left) * (top - bottom))
            dpi = min(meta.horizontal_dpi, meta.vertical_dpi)
            if dpi > 0 and (best is None or area > best[0]):
                best = (area, dpi)
    except Exception:  # an odd picture object: render at the default
        return DPI
    return DPI if best is None else max(MIN_DPI, min(DPI, best[1]))


def _frames(data: bytes) -> tuple[int, Callable[[int], object]]:
    """How many frames (pages) an image file has, and a function that decodes one (1-based), upright
    (EXIF orientation applied) and in greyscale. Every frame's size is checked from its header before
    any is decoded, and frames are decoded one at a time, so a bomb never reaches memory."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    # PIL's own check stays as a second guard: it refuses past twice this, and its warning between once
    # and twice is not for the user (the size is checked below, with a plain line).
    Image.MAX_IMAGE_PIXELS = MAX_OCR_PIXELS
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    unreadable = (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError)
    too_large = f"too large to read by OCR: refused (at most {MAX_OCR_PIXELS // 1_000_000} Mpixel)"
    try:
        image = Image.open(io.BytesIO(data))
        count = getattr(image, "n_frames", 1)
        for index in range(count):
            image.seek(index)
            width, height = image.size
            if width * height > MAX_OCR_PIXELS:
                where = f"page {index + 1} of the image" if count > 1 else "the image"
                raise FormatError(
                    f"{where} is {width:,} x {height:,} pixels ({width * height / 1e6:,.0f} Mpixel), {too_large}"
                )
    except Image.DecompressionBombError as exc:
        raise FormatError(f"the image is more than {2 * MAX_OCR_PIXELS // 1_000_000} Mpixel, {too_large}") from exc
    except unreadable as exc:
        raise FormatError(f"corrupt or unreadable image ({plain_reason(exc)})") from exc
    if not count:
        raise FormatError("the image has no pages")

    def frame(page: int):
        try:
            image.seek(page - 1)
            return ImageOps.exif_transpose(image).convert("L")
        except (*unreadable, Image.DecompressionBombError) as exc:
            raise FormatError(f"corrupt or unreadable image ({plain_reason(exc)})") from exc

    return count, frame


def extract_image(data: bytes) -> Extracted:
    """An image's text by OCR, one page per frame (a multi-page TIFF keeps its page numbers)."""
    count, frame = _frames(data)
    texts = recognize_pages(data, list(range(1, count + 1)), frame)
    pages = [texts[n] for n in range(1, count + 1)]
    if not any(p.strip() for p in pages):
        raise FormatError("no text recognized in the image (OCR found none)")
    # Paged text even for one frame (an empty page after it): passages cite page 1, and cleaning
    # treats the lines as the hard-wrapped lines of a page, as for a PDF.
    text = PAGE_BREAK.join(pages if len(pages) > 1 else [*pages, ""])
    return Extracted(text, title=ocr_title("", pages, list(range(1, len(pages) + 1))))

