"""Read source files from disk into RawDocuments, with their sidecar metadata."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ingest.formats import EXTRACTORS, FormatError
from ingest.records import RawDocument, SourceMeta

SUPPORTED_SUFFIXES = tuple(EXTRACTORS)
METADATA_FILE = "sources.toml"


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


def load_metadata(sources_dir: Path) -> dict[str, SourceMeta]:
    """Per-file metadata from `sources.toml`, a table per file name; missing file -> {}."""
    path = sources_dir / METADATA_FILE
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ReadError(f"{path}: not valid TOML ({exc}); fix or delete it") from exc
    metas = {}
    for name, fields in data.items():
        if isinstance(fields, dict):
            metas[name] = SourceMeta.from_dict({**fields, "file": name})
    return metas


def read_document(path: Path, sources_dir: Path, meta: SourceMeta | None = None) -> RawDocument:
    """Read one file. Raises ReadError when it cannot be used."""
    name = path.relative_to(sources_dir).as_posix()
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ReadError(f"unsupported file type {path.suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
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
    meta = meta or SourceMeta(file=name)
    # The sidecar (edited by people) wins over what the file says about itself.
    merged = SourceMeta(
        file=name,
        title=meta.title or extracted.title,
        authors=meta.authors or extracted.authors,
        publisher=meta.publisher,
        date=meta.date or extracted.date,
        url=meta.url,
        added=meta.added,
    )
    return RawDocument(file=name, text=extracted.text, fingerprint=fingerprint_bytes(data), meta=merged)


def read_sources(sources_dir: Path, progress: bool = False) -> tuple[list[RawDocument], list[Skipped]]:
    """Read every source; unreadable files are skipped and reported, never fatal."""
    metas = load_metadata(sources_dir)
    documents: list[RawDocument] = []
    skipped: list[Skipped] = []
    files = list_source_files(sources_dir)
    if progress:
        from tqdm import tqdm

        files = tqdm(files, desc="reading sources", unit="file")
    for path in files:
        name = path.relative_to(sources_dir).as_posix()
        try:
            documents.append(read_document(path, sources_dir, metas.get(name)))
        except ReadError as exc:
            skipped.append(Skipped(name, str(exc)))
    return documents, skipped
