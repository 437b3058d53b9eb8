"""Read source files from disk into RawDocuments, with their sidecar metadata."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from ingest.formats import EXTRACTORS, FormatError
from ingest.metadata import METADATA_FILE, MetadataError, load_metadata  # noqa: F401 (read_sources reads it; callers import it from here)
from ingest.records import RawDocument, SourceMeta

SUPPORTED_SUFFIXES = tuple(EXTRACTORS)


class ReadError(Exception):
    """A source file that cannot be indexed; the message says why."""


@dataclass(frozen=True)
class Skipped:
    """A file left out of the index and the reason, reported to the user."""

    file: str
    reason: str


def fingerprint_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def list_source_files(sources_dir: Path) -> list[Path]:
    """Every indexable file under `sources_dir`, in a stable order (hidden files skipped)."""
    files = [
        p
        for p in sources_dir.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(sources_dir).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(sources_dir).as_posix())


def merge_meta(sidecar: SourceMeta | None, own: SourceMeta) -> SourceMeta:
    """Citation metadata: the sidecar (edited by people) wins over what the file says of itself."""
    if sidecar is None:
        return own
    return SourceMeta(
        file=own.file,
        title=sidecar.title or own.title,
        authors=sidecar.authors or own.authors,
        publisher=sidecar.publisher or own.publisher,
        date=sidecar.date or own.date,
        url=sidecar.url or own.url,
        added=sidecar.added or own.added,
    )


def read_document(path: Path, sources_dir: Path, data: bytes | None = None) -> RawDocument:
    """Read one file (its bytes, if already read, in `data`). Raises ReadError when it cannot be used.

    The metadata is what the file itself says (title, authors, date); see merge_meta for the sidecar.
    """
    name = path.relative_to(sources_dir).as_posix()
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ReadError(f"unsupported file type {path.suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ReadError(f"cannot read: {exc.strerror or exc}") from exc
    if not data.strip():
        raise ReadError("empty file")
    try:
        extracted = EXTRACTORS[path.suffix.lower()](data)
    except FormatError as exc:
        raise ReadError(str(exc)) from exc
    if not extracted.text.strip():
        raise ReadError("no text in the file")
    meta = SourceMeta(file=name, title=extracted.title, authors=extracted.authors, date=extracted.date)
    return RawDocument(file=name, text=extracted.text, fingerprint=fingerprint_bytes(data), meta=meta)


def read_sources(sources_dir: Path) -> tuple[list[RawDocument], list[Skipped]]:
    """Read every source with its sidecar metadata; unreadable files are skipped and reported."""
    metas = load_metadata(sources_dir)
    documents: list[RawDocument] = []
    skipped: list[Skipped] = []
    for path in list_source_files(sources_dir):
        name = path.relative_to(sources_dir).as_posix()
        try:
            raw = read_document(path, sources_dir)
        except ReadError as exc:
            skipped.append(Skipped(name, str(exc)))
            continue
        documents.append(replace(raw, meta=merge_meta(metas.get(name), raw.meta)))
    return documents, skipped
