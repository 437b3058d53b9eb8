"""The build's read stage, one source file -> its passages, as every runner calls it.

The local build (index/build/pipeline.py, `LocalRunner`) calls `read_source` file after file; the Ray build
(index/build/ray_runner.py) calls `open_source` on the driver and `cut_source` in its tasks. Both hand back
`SourceOutcome`s, which index/build/pipeline.py merges into the new version. This module knows no runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ingest.clean import NO_INDEXABLE_TEXT, clean_document
from ingest.passages import PassageItem, TokenCounter, document_passages
from ingest.readers import ReadError, fingerprint_bytes, read_document, read_regular_file
from ingest.records import SourceMeta


@dataclass(frozen=True)
class SourceOutcome:
    """One source file after the read stage: its passages, or why it was skipped, or 'unchanged'."""

    file: str
    fingerprint: str | None  # None: the bytes could not be read (the file does not count)
    skipped: str = ""  # the reason, when the file is left out
    unchanged: bool = False  # same bytes as in the live version: nothing was read or cut
    meta: SourceMeta | None = None
    text: str = ""
    items: tuple[PassageItem, ...] = field(default=())


@dataclass(frozen=True)
class SourceFile:
    """A source file's bytes, read once, with its name and fingerprint."""

    path: Path
    file: str
    data: bytes
    fingerprint: str


def open_source(path: Path, sources_dir: Path, known_fingerprint: str | None) -> SourceFile | SourceOutcome:
    """Stage 1a (I/O only): a file's bytes, or its outcome already when it is unreadable or unchanged."""
    name = path.relative_to(sources_dir).as_posix()
    try:
        data = read_regular_file(path)  # a file swapped for a symbolic link since the listing is not followed
    except OSError as exc:
        return SourceOutcome(name, None, skipped=f"cannot read: {exc.strerror or exc}")
    fingerprint = fingerprint_bytes(data)
    if fingerprint == known_fingerprint:
        return SourceOutcome(name, fingerprint, unchanged=True)
    return SourceFile(path, name, data, fingerprint)


def cut_source(
    source: SourceFile, sources_dir: Path, count_tokens: TokenCounter, max_tokens: int, overlap: int
) -> SourceOutcome:
    """Stage 1b (CPU): clean a file's text and cut it into passages; the disk is not read again."""
    try:
        document = clean_document(read_document(source.path, sources_dir, source.data))
    except ReadError as exc:
        return SourceOutcome(source.file, source.fingerprint, skipped=str(exc))
    items = tuple(document_passages(document, count_tokens, max_tokens, overlap))
    if not items:
        return SourceOutcome(source.file, source.fingerprint, skipped=NO_INDEXABLE_TEXT)
    return SourceOutcome(source.file, source.fingerprint, meta=document.meta, text=document.text, items=items)


def read_source(
    path: Path,
    sources_dir: Path,
    known_fingerprint: str | None,
    count_tokens: TokenCounter,
    max_tokens: int,
    overlap: int,
) -> SourceOutcome:
    """Stage 1: read, clean and cut one file into passages; a file with `known_fingerprint` is not cut again."""
    opened = open_source(path, sources_dir, known_fingerprint)
    if isinstance(opened, SourceOutcome):
        return opened
    return cut_source(opened, sources_dir, count_tokens, max_tokens, overlap)
