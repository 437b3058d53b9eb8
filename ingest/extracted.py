"""What every format reader returns (text and the file's own metadata), and how it refuses a file.

Kept apart from ingest/formats.py (the dispatch) so each reader module can import it without a cycle.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

# Pages (PDF pages, slides, sheets, e-book chapters, image frames) are separated by form feeds:
# cleaning counts them, and every passage keeps the number of the one it stands on.
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
    page_labels: tuple[str, ...] = ()  # how citations name each page, when more than its number (SourceMeta)


# Author names document software writes by itself, not people's names.
SOFTWARE_AUTHORS = frozenset(
    [
        "python-docx", "python-pptx", "openpyxl", "microsoft office user", "windows user", "administrator",
        "admin", "user", "unknown", "author",
    ]
)


def author_of(name: object) -> tuple[str, ...]:
    """The file's author field as a one-name tuple, unless it is empty or a software default."""
    author = str(name or "").strip()
    return (author,) if author and author.casefold() not in SOFTWARE_AUTHORS else ()


# What the parts of a zipped document (.docx, .pptx, .xlsx, .ods, .odt, .epub) may expand to in all:
# a 50 MB upload of real office XML stays far below it; a zip bomb does not.
MAX_UNZIPPED_BYTES = 1 << 30


def check_zip_size(data: bytes, kind: str) -> None:
    """Refuse a zipped document whose parts would expand past MAX_UNZIPPED_BYTES (the sizes its
    directory declares; a damaged zip is left for the format's reader to refuse)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    if total > MAX_UNZIPPED_BYTES:
        raise FormatError(f"the {kind} would expand to {total // 2**20:,} MB when unzipped: refused (at most {MAX_UNZIPPED_BYTES // 2**20:,} MB)")


def blocks_text(pages: list[list[str]]) -> str:
    """Pages of blocks (paragraphs, rows, list items) as one text: blocks apart by a blank line, so
    cleaning never joins two of them as hard-wrapped lines, and pages apart by PAGE_BREAK."""
    return PAGE_BREAK.join("\n\n".join(b for b in page if b.strip()) for page in pages)


def has_text(pages: list[list[str]]) -> bool:
    return any(b.strip() for page in pages for b in page)
