"""sources/ -> a new index version: read, clean, cut into passages, embed, index, switch."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.config import Settings
from index.embed import Embedder, get_embedder
from index.store import (
    FORMAT_VERSION,
    IndexError_,
    IndexVersion,
    build_lock,
    Manifest,
    SourceRecord,
    current_version_path,
    load_version,
    read_manifest,
    write_version,
)
from ingest.clean import clean_document
from ingest.passages import build_passages
from ingest.readers import Skipped, fingerprint_bytes, list_source_files, load_metadata, read_sources
from ingest.records import CleanDocument


@dataclass(frozen=True)
class BuildReport:
    """What a build did, for the CLI and tests."""

    version: Path | None
    sources: int
    passages: int
    embedded: int
    reused: int
    skipped: tuple[Skipped, ...]
    seconds: float
    up_to_date: bool = False


def build_params(settings: Settings) -> dict:
    """The settings that change what is indexed: a different value makes a stored index stale."""
    return {"max_passage_tokens": settings.max_passage_tokens, "passage_overlap": settings.passage_overlap}


def source_fingerprints(sources_dir: Path) -> dict[str, str]:
    """File name -> content fingerprint for every indexable file, plus the metadata file."""
    prints = {
        p.relative_to(sources_dir).as_posix(): fingerprint_bytes(p.read_bytes()) for p in list_source_files(sources_dir)
    }
    meta = sources_dir / "sources.toml"
    if meta.exists():
        prints["sources.toml"] = fingerprint_bytes(meta.read_bytes())
    return prints


def index_is_current(settings: Settings) -> bool:
    """True when the live index was built from exactly these sources with these settings."""
    version = current_version_path(settings.index_dir)
    if version is None:
        return False
    try:
        manifest = read_manifest(version)
    except IndexError_:
        return False
    return (
        manifest.model == settings.model
        and manifest.build_params == build_params(settings)
        and manifest.sources == source_fingerprints(settings.sources_dir)
    )


class BuildRefused(IndexError_):
    """An incremental build that would mix two embedding models."""


def _reusable_vectors(settings: Settings, full: bool) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(passage vector, sentence vectors) of the live index by passage id, if made with the same model.

    Raises BuildRefused when the live index was made with another model: vectors of two models in
    one index would be meaningless to compare, and silently re-embedding everything is a surprise.
    """
    if full:
        return {}
    version = current_version_path(settings.index_dir)
    if version is None:
        return {}
    try:
        model = read_manifest(version).model
    except IndexError_:
        return {}
    if model != settings.model:
        raise BuildRefused(
            f"the index in {settings.index_dir} was built with model {model!r}; to rebuild it with "
            f"{settings.model!r} run `verbatim build --full`"
        )
    try:
        live = load_version(settings.index_dir, expected_model=settings.model)
    except IndexError_:
        return {}
    return {p.id: (live.vectors[row], live.sentence_vectors(row)) for row, p in enumerate(live.passages)}


def build_index(
    settings: Settings, embedder: Embedder | None = None, full: bool = False, progress: bool = False
) -> BuildReport:
    """Build a new index version from `settings.sources_dir` and make it live.

    Unreadable files are skipped and reported. Passages whose text is already embedded in the live
    index (same model) reuse their vectors, so a rebuild costs only the new text unless `full`.
    """
    started = time.perf_counter()
    if not settings.sources_dir.is_dir():
        raise FileNotFoundError(f"sources folder {settings.sources_dir} does not exist")
    with build_lock(settings.index_dir):
        return _build(settings, embedder, full, progress, started)


def _build(settings: Settings, embedder: Embedder | None, full: bool, progress: bool, started: float) -> BuildReport:
    known = _reusable_vectors(settings, full)
    raw_documents, skipped = read_sources(settings.sources_dir, progress=progress)
    documents: list[CleanDocument] = []
    for raw in raw_documents:
        document = clean_document(raw)
        if document.text.strip():
            documents.append(document)
        else:
            skipped.append(Skipped(raw.file, "no text left once page furniture (menus, labels) was removed"))
    embedder = embedder or get_embedder(settings.model)
    passages = build_passages(
        documents, embedder.count_tokens, settings.max_passage_tokens, settings.passage_overlap
    )
    todo = [i for i, p in enumerate(passages) if p.id not in known]
    vectors = np.zeros((len(passages), embedder.dimension), dtype=np.float32)
    sentence_vectors: list[np.ndarray] = [np.zeros((0, embedder.dimension), dtype=np.float32)] * len(passages)
    for i, p in enumerate(passages):
        if p.id in known:
            vectors[i], sentence_vectors[i] = known[p.id]
    if todo:
        new_vectors, new_sentences = embedder.encode_passages(
            [passages[i].text for i in todo],
            [[(s.start, s.end) for s in passages[i].sentences] for i in todo],
            batch_size=settings.embed_batch_size,
            progress=progress,
        )
        vectors[todo] = new_vectors
        for i, rows in zip(todo, new_sentences):
            sentence_vectors[i] = rows
    counts: dict[str, int] = {}
    for p in passages:
        for file in p.files:
            counts[file] = counts.get(file, 0) + 1
    records = [SourceRecord(d.meta, d.fingerprint, d.text, counts.get(d.file, 0)) for d in documents]
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        model=settings.model,
        dimension=embedder.dimension,
        passage_count=len(passages),
        sources=source_fingerprints(settings.sources_dir),
        build_params=build_params(settings),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    version = write_version(settings.index_dir, manifest, records, passages, vectors, sentence_vectors)
    return BuildReport(
        version=version,
        sources=len(documents),
        passages=len(passages),
        embedded=len(todo),
        reused=len(passages) - len(todo),
        skipped=tuple(skipped),
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class SourceRow:
    """One line of `verbatim sources`: what a source is and whether the live index has it."""

    file: str
    title: str
    publisher: str
    date: str
    added: str
    passages: int
    indexed: bool


def list_sources(settings: Settings, live: IndexVersion | None = None) -> list[SourceRow]:
    """Every file in the sources folder, with its passage count in the live index (if indexed)."""
    try:
        indexed = dict((live or load_version(settings.index_dir)).sources)
    except IndexError_:
        indexed = {}
    metas = load_metadata(settings.sources_dir) if settings.sources_dir.is_dir() else {}
    rows = []
    for path in list_source_files(settings.sources_dir) if settings.sources_dir.is_dir() else []:
        name = path.relative_to(settings.sources_dir).as_posix()
        record = indexed.get(name)
        if record is not None and record.fingerprint != fingerprint_bytes(path.read_bytes()):
            record = None  # changed since the last build
        meta = record.meta if record else metas.get(name)
        rows.append(
            SourceRow(
                file=name,
                title=(meta.title if meta else "") or name,
                publisher=meta.publisher if meta else "",
                date=meta.date if meta else "",
                added=(meta.added if meta else "") or time.strftime("%Y-%m-%d", time.localtime(path.stat().st_mtime)),
                passages=record.passages if record else 0,
                indexed=record is not None,
            )
        )
    return rows
