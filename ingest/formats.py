"""Text and metadata out of each file format. PDF pages are separated by form feeds ("\\f")."""

from __future__ import annotations

import io
import logging
import re
import warnings

from ingest.decode import decode_text
from ingest.ebook import extract_epub
from ingest.extracted import PAGE_BREAK, SOFTWARE_AUTHORS, Extracted, FormatError, author_of, plain_reason, table_blocks  # noqa: F401 (re-exported)
from ingest.limits import check_zipped
from ingest.ocr import IMAGE_SUFFIXES, extract_image, ocr_pdf_pages, ocr_title
from ingest.office import extract_odt, extract_pptx, extract_rtf
from ingest.sheets import extract_csv, extract_ods, extract_xls, extract_xlsx


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def decode_html(data: bytes) -> str:
    """An HTML page's text: its declared charset when the bytes fit it (and carry no BOM saying
    otherwise), else the same detection as plain text."""
    declared = _META_CHARSET.search(data[:4096])
    if declared and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode(declared.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)


def extract_plain(data: bytes) -> Extracted:
    return Extracted(decode_text(data))


# Only dates the page states (its metadata or markup); htmldate's extensive search guesses from
# copyright lines and the like ("© 2025" became 2025-01-01), which a citation must not carry.
_STATED_DATES_ONLY = {"extensive_search": False, "original_date": True}


def extract_html(data: bytes) -> Extracted:
    """Main text only (navigation, scripts, styles and footers dropped) with trafilatura."""
    import trafilatura

    html = decode_html(data)
    # Markdown output keeps the page's structure for cleaning: blank lines between paragraphs,
    # tables with their header row, code in fences, list items on their own lines.
    text = trafilatura.extract(
        html, output_format="markdown", favor_recall=True, include_tables=True, include_comments=False
    )
    if not text or not text.strip():
        raise FormatError("no main text found in the HTML page")
    meta = trafilatura.extract_metadata(html, date_config=_STATED_DATES_ONLY)
    authors = tuple(a.strip() for a in (meta.author or "").split(";") if a.strip()) if meta else ()
    return Extracted(
        text,
        title=(meta.title or "") if meta else "",
        authors=authors,
        date=(meta.date or "") if meta else "",
    )


_author = author_of  # the name this module used before the readers moved out


def _quiet_pypdf() -> None:
    """pypdf logs and warns about the damage it works around ("EOF marker not found"): the user hears
    of a PDF once, from the reader's one line (read, or skipped with the reason), not from pypdf too."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"pypdf(\.|$)")


def extract_pdf(data: bytes) -> Extracted:
    """The text layer of every page, pages separated by form feeds so citations can give pages.

    Pages without a text layer (a scan, or a scanned page among typed ones) are read by OCR
    (ingest/ocr.py), and the title then says which text was recognized."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    _quiet_pypdf()
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
        if encrypted:
            try:
                opened = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types for unsupported encryption
                raise FormatError(f"encrypted PDF that cannot be opened ({exc})") from exc
            if not opened:
                raise FormatError("encrypted PDF (password protected)")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except FormatError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise FormatError(f"corrupt or unreadable PDF ({plain_reason(exc)})") from exc
    title = str(info.title or "") if info else ""
    scanned = [number for number, text in enumerate(pages, start=1) if not text.strip()]
    if scanned:
        recognized = ocr_pdf_pages(data, scanned)
        for number, text in recognized.items():
            pages[number - 1] = text
        if not any(p.strip() for p in pages):
            raise FormatError("the PDF has no text: no text layer, and OCR recognized none")
        title = ocr_title(title, pages, scanned)
        if len(pages) == 1:
            pages.append("")  # paged even alone, as an image is: OCR'd text cites page 1, shown beside its picture
    return Extracted(PAGE_BREAK.join(pages), title=title, authors=_author(info.author if info else ""))


def docx_table_blocks(table) -> list[str]:
    """A Word table's rows as blocks, each cell labelled with the first row's header, as HTML, Markdown and
    slide tables are ("Year: 2023 | Tonnes: 12"); the header row labels, it is not a block of its own.
    A merged cell (python-docx repeats it in every grid column it spans) counts once, in its first column."""
    rows = []
    for row in table.rows:
        cells, seen = [], []  # the cells' XML elements, held so that identity means the same cell
        for cell in row.cells:
            cells.append("" if any(cell._tc is tc for tc in seen) else " ".join(cell.text.split()))
            seen.append(cell._tc)
        rows.append(cells)
    return table_blocks(rows)


def extract_docx(data: bytes) -> Extracted:
    """Paragraphs and table rows of a Word document, with its core properties."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    check_zipped(data, "DOCX")
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise FormatError(f"corrupt or unreadable DOCX ({plain_reason(exc)})") from exc
    except Exception as exc:  # zipfile.BadZipFile and lxml errors surface here for damaged files
        raise FormatError(f"corrupt or unreadable DOCX ({plain_reason(exc)})") from exc
    blocks = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        blocks.extend(docx_table_blocks(table))
    if not blocks:
        raise FormatError("the DOCX has no text")
    props = document.core_properties
    # No date: `created` is when the file was made (python-docx's template even says 2013-12-23),
    # not when the work was published. An author the writing software filled in is not one either.
    return Extracted("\n\n".join(blocks), title=props.title or "", authors=_author(props.author))


EXTRACTORS = {
    ".txt": extract_plain,
    ".md": extract_plain,
    ".markdown": extract_plain,
    ".html": extract_html,
    ".htm": extract_html,
    ".pdf": extract_pdf,
    ".docx": extract_docx,
    ".pptx": extract_pptx,
    ".xlsx": extract_xlsx,
    ".xls": extract_xls,
    ".ods": extract_ods,
    ".csv": extract_csv,
    ".epub": extract_epub,
    ".odt": extract_odt,
    ".rtf": extract_rtf,
    **dict.fromkeys(IMAGE_SUFFIXES, extract_image),
}
