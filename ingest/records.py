"""The records that flow through the pipeline: files -> documents -> passages."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath

# What a "page" of a source is, by format (ingest/office.py, sheets.py, ebook.py store its number in `page`).
PAGE_WORDS = {".pptx": "slide", ".epub": "chapter", ".xlsx": "sheet", ".xls": "sheet", ".ods": "sheet"}


def printable(text: str) -> str:
    """`text` with control and format characters (NUL, ESC, bidi overrides) as spaces, spaces single.

    Metadata is printed to terminals and pages: an escape sequence or a right-to-left override in
    a title would make it show something other than what is stored.
    """
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


class MetadataValueError(ValueError):
    """A metadata value that JSON cannot hold; the message names the field."""


def _json_value(value: object, where: str) -> object:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()  # a date is kept as ISO text, which filters compare as dates
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v, f"{where}.{k}") for k, v in value.items()}
    raise MetadataValueError(f"metadata {where!r} is a {type(value).__name__}, which JSON cannot hold; give a string, number, date, list or table")


def json_metadata(metadata: dict) -> dict:
    """`metadata` as plain JSON values (dates as ISO text), keys as strings. Raises MetadataValueError."""
    if not isinstance(metadata, dict):
        raise MetadataValueError(f"metadata must be a dict of fields, not {type(metadata).__name__}")
    clean = {str(k): _json_value(v, str(k)) for k, v in metadata.items()}
    json.dumps(clean)  # NaN and the like pass through json; what is left is JSON
    return clean


@dataclass(frozen=True)
class SourceMeta:
    """Citation metadata of one source file; every field but `file` may be unknown ("").

    Every field is made printable on creation, whoever wrote it (the document, sources.toml, an old index).
    """

    file: str
    title: str = ""
    authors: tuple[str, ...] = ()
    publisher: str = ""
    date: str = ""
    url: str = ""
    added: str = ""
    # How citations name each page when the file says more than its number: a sheet's name, a
    # hidden slide ('sheet "Ports"', 'slide 3 (hidden)'); page N is page_labels[N - 1].
    page_labels: tuple[str, ...] = ()
    # The document's id when it was added through the Python API (index/collection.py), else "".
    id: str = ""
    # Arbitrary JSON-able fields (year, tags, article...) that filters read (index/search/filters.py).
    metadata: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("title", "publisher", "date", "url", "added", "id"):
            object.__setattr__(self, name, printable(getattr(self, name)))
        object.__setattr__(self, "authors", tuple(a for a in (printable(a) for a in self.authors) if a))
        object.__setattr__(self, "page_labels", tuple(printable(label) for label in self.page_labels))
        object.__setattr__(self, "metadata", json_metadata(self.metadata))

    def page_label(self, page: int) -> str:
        """'p. 3', 'slide 3', 'chapter 3', or the page's own label ('sheet "Ports"', 'slide 3 (hidden)')."""
        if 0 < page <= len(self.page_labels) and self.page_labels[page - 1]:
            return self.page_labels[page - 1]
        return f"{PAGE_WORDS.get(PurePosixPath(self.file).suffix.lower(), 'p.')} {page}"

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "title": self.title,
            "authors": list(self.authors),
            "publisher": self.publisher,
            "date": self.date,
            "url": self.url,
            "added": self.added,
            "page_labels": list(self.page_labels),
            "id": self.id,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SourceMeta:
        return cls(
            file=str(data["file"]),
            title=str(data.get("title", "")),
            authors=tuple(str(a) for a in data.get("authors", ())),
            publisher=str(data.get("publisher", "")),
            date=str(data.get("date", "")),
            url=str(data.get("url", "")),
            added=str(data.get("added", "")),
            page_labels=tuple(str(label) for label in data.get("page_labels", ())),
            id=str(data.get("id", "")),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class RawDocument:
    """A file as read from disk: its text and the metadata known for it."""

    file: str
    text: str
    fingerprint: str
    meta: SourceMeta


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of cleaned text as [start, end) character offsets, and its page when paged."""

    start: int
    end: int
    page: int | None = None


@dataclass(frozen=True)
class CleanDocument:
    """Cleaned text (the text every offset refers to) and its paragraphs."""

    file: str
    text: str
    fingerprint: str
    meta: SourceMeta
    paragraphs: tuple[Paragraph, ...]


@dataclass(frozen=True)
class Span:
    """A [start, end) character range in a document's cleaned text."""

    start: int
    end: int


@dataclass(frozen=True)
class Occurrence:
    """Where a passage stands in one source: cleaned-text offsets, paragraph (1-based), page, and
    the heading of the section it stands under ("" before the first heading)."""

    file: str
    start: int
    end: int
    paragraph: int
    page: int | None = None
    heading: str = ""


@dataclass(frozen=True)
class Passage:
    """A run of whole sentences, stored once however many sources contain it: from one paragraph,
    with the heading-like lines (titles, bylines, list items, fact lines) just before it.

    `sentences` are offsets relative to the passage text, so evidence can be marked without
    splitting again; `occurrences` lists every source (and place) the exact text appears in.
    """

    id: int
    text: str
    sentences: tuple[Span, ...]
    occurrences: tuple[Occurrence, ...] = field(default_factory=tuple)

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(o.file for o in self.occurrences))

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "sentences": [[s.start, s.end] for s in self.sentences],
            "occurrences": [
                {"file": o.file, "start": o.start, "end": o.end, "paragraph": o.paragraph, "page": o.page, "heading": o.heading}
                for o in self.occurrences
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Passage:
        return cls(
            id=int(data["id"]),
            text=str(data["text"]),
            sentences=tuple(Span(int(a), int(b)) for a, b in data["sentences"]),
            occurrences=tuple(
                Occurrence(
                    str(o["file"]), int(o["start"]), int(o["end"]), int(o["paragraph"]), o.get("page"), str(o.get("heading", ""))
                )
                for o in data["occurrences"]
            ),
        )
