"""What every format reader returns (text and the file's own metadata), and how it refuses a file.

Kept apart from ingest/formats.py (the dispatch) so each reader module can import it without a cycle:
the readers share these helpers (and ingest/containers.py, ingest/limits.py); only formats.py knows them all.
"""

from __future__ import annotations

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


def plain_reason(exc: BaseException) -> str:
    """Why a library refused a file, as one plain line without class names: the first line of its
    message ("File is not a zip file"); entity declarations (defusedxml) and an empty message get words."""
    if type(exc).__module__.split(".")[0] == "defusedxml":
        return "it declares XML entities, refused as a billion-laughs or external-entity attack"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else "no reason given"


def table_blocks(rows: list[list[str]]) -> list[str]:
    """Table rows as blocks, each cell labelled with the first row's header when it has one."""
    rows = [r for r in rows if any(r)]
    if len(rows) < 2:
        return [" | ".join(c for c in r if c) for r in rows]
    header, blocks = rows[0], []
    for cells in rows[1:]:
        labelled = [f"{header[j]}: {c}" if j < len(header) and header[j] else c for j, c in enumerate(cells) if c]
        blocks.append(" | ".join(labelled))
    return blocks


def blocks_text(pages: list[list[str]]) -> str:
    """Pages of blocks (paragraphs, rows, list items) as one text: blocks apart by a blank line, so
    cleaning never joins two of them as hard-wrapped lines, and pages apart by PAGE_BREAK."""
    return PAGE_BREAK.join("\n\n".join(b for b in page if b.strip()) for page in pages)


def has_text(pages: list[list[str]]) -> bool:
    return any(b.strip() for page in pages for b in page)
