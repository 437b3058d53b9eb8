"""Text and metadata out of each file format. PDF pages are separated by form feeds ("\\f")."""

from __future__ import annotations

import io
from dataclasses import dataclass

PAGE_BREAK = "\f"


class FormatError(Exception):
    """The file's content cannot be turned into text; the message says why."""


@dataclass(frozen=True)
class Extracted:
    """Text of a document and whatever metadata the file itself carries."""

    text: str
    title: str = ""
    authors: tuple[str, ...] = ()
    date: str = ""


def decode_text(data: bytes) -> str:
    """Decode a plain-text file; refuse binary content."""
    if b"\x00" in data[:8192]:
        raise FormatError("binary content (NUL bytes), not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Windows-1252 is what most non-UTF-8 text files on the web really are.
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 or Windows-1252 text ({exc.reason})") from exc


def extract_plain(data: bytes) -> Extracted:
    return Extracted(decode_text(data))


def extract_html(data: bytes) -> Extracted:
    """Main text only (navigation, scripts, styles and footers dropped) with trafilatura."""
    import trafilatura

    html = decode_text(data)
    text = trafilatura.extract(html, favor_recall=True, include_tables=True, include_comments=False)
    if not text or not text.strip():
        raise FormatError("no main text found in the HTML page")
    meta = trafilatura.extract_metadata(html)
    authors = tuple(a.strip() for a in (meta.author or "").split(";") if a.strip()) if meta else ()
    # trafilatura keeps one paragraph per line; blank lines make the paragraphs explicit.
    return Extracted(
        text.replace("\n", "\n\n"),
        title=(meta.title or "") if meta else "",
        authors=authors,
        date=(meta.date or "") if meta else "",
    )


def extract_pdf(data: bytes) -> Extracted:
    """The text layer of every page, pages separated by form feeds so citations can give pages."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
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
        raise FormatError(f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if not any(p.strip() for p in pages):
        raise FormatError("the PDF has no text layer (a scan needs OCR first)")
    title = str(info.title or "") if info else ""
    author = str(info.author or "") if info else ""
    return Extracted(PAGE_BREAK.join(pages), title=title, authors=(author,) if author else ())


def extract_docx(data: bytes) -> Extracted:
    """Paragraphs and table rows of a Word document, with its core properties."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise FormatError(f"corrupt or unreadable DOCX ({type(exc).__name__})") from exc
    except Exception as exc:  # zipfile.BadZipFile and lxml errors surface here for damaged files
        raise FormatError(f"corrupt or unreadable DOCX ({type(exc).__name__}: {exc})") from exc
    blocks = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                blocks.append(" | ".join(dict.fromkeys(cells)))
    if not blocks:
        raise FormatError("the DOCX has no text")
    props = document.core_properties
    date = props.created.date().isoformat() if props.created else ""
    return Extracted(
        "\n\n".join(blocks), title=props.title or "", authors=(props.author,) if props.author else (), date=date
    )


EXTRACTORS = {
    ".txt": extract_plain,
    ".md": extract_plain,
    ".markdown": extract_plain,
    ".html": extract_html,
    ".htm": extract_html,
    ".pdf": extract_pdf,
    ".docx": extract_docx,
}
