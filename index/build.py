"""sources/ -> a new index version: read, clean, cut into passages, embed, index, switch."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.config import Settings
from index.embed import Embedder, get_embedder
from index.progress import ProgressLines, counted
from index.store import (
    FORMAT_VERSION,
    IndexError_,
    IndexVersion,
    Manifest,
    SourceRecord,
    build_lock,
    current_version_path,
    load_version,
    read_manifest,
    remove_dead_temporaries,
    write_version,
)
from index.vector_store import StoreConfig
from ingest.clean import NO_INDEXABLE_TEXT, clean_document
from ingest.lock import sources_lock
from ingest.passages import PASSAGE_RULES_VERSION, PassageItem, document_passages, merge_passages
from ingest.readers import (
    METADATA_FILE,
    ReadError,
    Skipped,
    fingerprint_bytes,
    list_source_files,
    load_metadata,
    merge_meta,
    read_document,
)
from ingest.records import SourceMeta


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


def store_config(settings: Settings) -> StoreConfig:
    """The vector store a build writes to, from the settings."""
    return StoreConfig(settings.store, settings.milvus_address, settings.ann_threshold, settings.lexical == "milvus")


def build_params(settings: Settings) -> dict:
    """The settings that change what is indexed: a different value makes a stored index stale."""
    return {
        "max_passage_tokens": settings.max_passage_tokens,
        "passage_overlap": settings.passage_overlap,
        "passage_rules": PASSAGE_RULES_VERSION,
    }


def _with_metadata_fingerprint(prints: dict[str, str], sources_dir: Path) -> dict[str, str]:
    """`prints` plus the fingerprint of the sidecar metadata file, when there is one."""
    meta = sources_dir / METADATA_FILE
    if meta.exists():
        prints[METADATA_FILE] = fingerprint_bytes(meta.read_bytes())
    return prints


def source_fingerprints(sources_dir: Path) -> dict[str, str]:
    """File name -> content fingerprint for every indexable file, plus the metadata file."""
    prints = {
        p.relative_to(sources_dir).as_posix(): fingerprint_bytes(p.read_bytes()) for p in list_source_files(sources_dir)
    }
    return _with_metadata_fingerprint(prints, sources_dir)


def _live_manifest(settings: Settings) -> Manifest | None:
    """The live version's manifest, or None when there is no readable one."""
    version = current_version_path(settings.index_dir)
    if version is None:
        return None
    try:
        return read_manifest(version)
    except IndexError_:
        return None


def index_is_current(settings: Settings) -> bool:
    """True when the live index was built from exactly these sources with these settings."""
    manifest = _live_manifest(settings)
    return (
        manifest is not None
        and manifest.model == settings.model
        and manifest.build_params == build_params(settings)
        and manifest.store == settings.store
        and manifest.lexical == settings.lexical
        and manifest.sources == source_fingerprints(settings.sources_dir)
    )


class BuildRefused(IndexError_):
    """An incremental build that would mix two embedding models."""


def _reusable_version(settings: Settings, full: bool) -> IndexVersion | None:
    """The live version when its passages and vectors can be reused by this build.

    Raises BuildRefused when the live index was made with another model: vectors of two models in
    one index would be meaningless to compare, and silently re-embedding everything is a surprise.
    """
    manifest = None if full else _live_manifest(settings)
    if manifest is None:
        return None
    if manifest.model != settings.model:
        raise BuildRefused(
            f"the index in {settings.index_dir} was built with model {manifest.model!r}; to rebuild it "
            f"with {settings.model!r} run `verbatim build --full`"
        )
    try:
        return load_version(settings.index_dir, expected_model=settings.model)
    except IndexError_:
        return None


def _items_by_file(live: IndexVersion) -> dict[str, list[PassageItem]]:
    """Each source's passages in the live index, in document order."""
    items: dict[str, list[PassageItem]] = {}
    for passage in live.passages:
        for occurrence in passage.occurrences:
            items.setdefault(occurrence.file, []).append((passage.text, passage.sentences, occurrence))
    for file_items in items.values():
        file_items.sort(key=lambda item: item[2].start)
    return items


def build_index(
    settings: Settings,
    embedder: Embedder | None = None,
    full: bool = False,
    progress: bool = False,
    progress_lines: bool = False,
) -> BuildReport:
    """Build a new index version from `settings.sources_dir` and make it live.

    Unreadable files are skipped and reported. Unless `full`, a source whose bytes are unchanged is
    not read again (its passages come from the live index) and passages already embedded keep their
    vectors, so a rebuild costs about the new text only. `progress` shows bars (a terminal, the
    app); `progress_lines` writes a line every 10 s to stderr instead (logs, CI).

    The sources folder is held shared for the whole build (adds and removes wait), so the manifest
    describes exactly the files and metadata that were read. Temporary folders of builds that died
    are removed first: whoever holds the build lock is the only build running.
    """
    started = time.perf_counter()
    if not settings.sources_dir.is_dir():
        raise FileNotFoundError(f"sources folder {settings.sources_dir} does not exist")
    with build_lock(settings.index_dir), sources_lock(settings.sources_dir, shared=True):
        remove_dead_temporaries(settings.index_dir)
        return _build(settings, embedder, full, progress, started, progress_lines)


def _build(
    settings: Settings, embedder: Embedder | None, full: bool, progress: bool, started: float, progress_lines: bool = False
) -> BuildReport:
    live = _reusable_version(settings, full)
    reusable = live is not None and live.manifest.build_params == build_params(settings)
    live_items = _items_by_file(live) if reusable else {}
    embedder = embedder or get_embedder(settings.model)
    sidecar = load_metadata(settings.sources_dir)
    files = list_source_files(settings.sources_dir)
    if progress:
        from tqdm import tqdm

        files = tqdm(files, desc="reading sources", unit="file")
    skipped: list[Skipped] = []
    sources: list[tuple[SourceMeta, str, str]] = []  # own metadata, fingerprint, cleaned text
    items: list[PassageItem] = []
    fingerprints: dict[str, str] = {}
    for path in counted(files, "reading sources", "files", enabled=progress_lines, describe=lambda p: p.name):
        name = path.relative_to(settings.sources_dir).as_posix()
        try:
            data = path.read_bytes()
        except OSError as exc:
            skipped.append(Skipped(name, f"cannot read: {exc.strerror or exc}"))
            continue
        fingerprint = fingerprint_bytes(data)
        # Every file counts, skipped ones too: the index is current until one of them changes.
        fingerprints[name] = fingerprint
        previous = live.sources.get(name) if reusable else None
        if previous is not None and previous.fingerprint == fingerprint:
            sources.append((previous.own_meta, fingerprint, previous.text))
            items.extend(live_items.get(name, []))
            continue
        try:
            document = clean_document(read_document(path, settings.sources_dir, data))
        except ReadError as exc:
            skipped.append(Skipped(name, str(exc)))
            continue
        document_items = list(
            document_passages(document, embedder.count_tokens, settings.max_passage_tokens, settings.passage_overlap)
        )
        if not document_items:
            skipped.append(Skipped(name, NO_INDEXABLE_TEXT))
            continue
        sources.append((document.meta, fingerprint, document.text))
        items.extend(document_items)
    passages = merge_passages(items)

    known = {p.id: row for row, p in enumerate(live.passages)} if live is not None else {}
    todo = [i for i, p in enumerate(passages) if p.id not in known]
    vectors = np.zeros((len(passages), embedder.dimension), dtype=np.float32)
    sentence_vectors: list[np.ndarray] = [np.zeros((0, embedder.dimension), dtype=np.float32)] * len(passages)
    for i, p in enumerate(passages):
        if p.id in known:
            row = known[p.id]
            vectors[i], sentence_vectors[i] = live.vectors[row], live.sentence_vectors(row)
    if todo:
        with ProgressLines("embedding", len(todo), "passages") if progress_lines else nullcontext() as embedding:
            new_vectors, new_sentences = embedder.encode_passages(
                [passages[i].text for i in todo],
                [[(s.start, s.end) for s in passages[i].sentences] for i in todo],
                batch_size=settings.embed_batch_size,
                progress=progress,
                on_progress=embedding.update if embedding else None,
            )
        vectors[todo] = new_vectors
        for i, rows in zip(todo, new_sentences, strict=True):
            sentence_vectors[i] = rows
    counts: dict[str, int] = {}
    for p in passages:
        for file in p.files:
            counts[file] = counts.get(file, 0) + 1
    records = [
        SourceRecord(merge_meta(sidecar.get(own.file), own), own, fingerprint, text, counts.get(own.file, 0))
        for own, fingerprint, text in sources
    ]
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        model=settings.model,
        dimension=embedder.dimension,
        passage_count=len(passages),
        sources=_with_metadata_fingerprint(fingerprints, settings.sources_dir),
        build_params=build_params(settings),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    version = write_version(
        settings.index_dir, manifest, records, passages, vectors, sentence_vectors, store=store_config(settings), full=full
    )
    return BuildReport(
        version=version,
        sources=len(records),
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


def list_sources(settings: Settings, live: IndexVersion | None = None, with_sidecar: bool = True) -> list[SourceRow]:
    """Every file in the sources folder, with its passage count in the live index (if indexed).

    Raises MetadataError for a broken sources.toml unless `with_sidecar` is False (then the
    metadata is the live index's).
    """
    try:
        indexed = dict((live or load_version(settings.index_dir)).sources)
    except IndexError_:
        indexed = {}
    metas = load_metadata(settings.sources_dir) if with_sidecar and settings.sources_dir.is_dir() else {}
    rows = []
    for path in list_source_files(settings.sources_dir) if settings.sources_dir.is_dir() else []:
        name = path.relative_to(settings.sources_dir).as_posix()
        record = indexed.get(name)
        if record is not None and record.fingerprint != fingerprint_bytes(path.read_bytes()):
            record = None  # changed since the last build
        # Current sidecar values, even before the next build puts them in the index.
        if not with_sidecar:
            meta = record.meta if record else None
        else:
            meta = merge_meta(metas.get(name), record.own_meta) if record else metas.get(name)
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
