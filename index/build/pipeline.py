"""sources/ -> a new index version: read, clean, cut into passages, embed, index, switch.

The build is a fixed sequence of stages, shared by the local build and the Ray build
(index/build/ray_runner.py): a *runner* only decides where two of them run.

1. read: each source file -> its passages (index/build/stages.py, `read_source`: `open_source` reads
   the bytes, `cut_source` cleans and cuts; a file whose bytes are unchanged since the live version
   is not cut again);                                                              runner.read
2. merge: every file's passages -> one list, identical text stored once (`assemble_sources`);
3. plan: which passages need embedding; the others keep their live vectors (`reuse_vectors`);
4. embed: the new passages' vectors and sentence vectors;                          runner.embed
   and, unless --no-multilingual, their multilingual vectors and languages (`multilingual_part`);
                                                                                 runner.embed_multilingual
5. write: the version (FAISS files or Milvus upsert, BM25), then the switch (`write_built_version`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from index.build.stages import SourceOutcome, read_source
from index.config import MULTILINGUAL_MODEL, Settings
from index.models.embed import Embedder, get_embedder
from index.build.ocr_progress import ocr_for
from index.models.onnx_encoder import OnnxEncoder
from index.build.progress import Heartbeat, ProgressLines, Report, counted
from index.models.query_encoder import ensure_query_encoder, shipped_entry
from index.storage.store import (
    FORMAT_VERSION,
    IndexError_,
    IndexVersion,
    Manifest,
    MultilingualPart,
    SourceRecord,
    build_lock,
    current_version_path,
    load_version,
    read_manifest,
    remove_dead_temporaries,
    write_version,
)
from index.storage.vector_store import StoreConfig, preflight
from ingest.language import passage_language
from ingest.lock import sources_lock
from ingest.ocr import ocr_settings
from ingest.passages import PASSAGE_RULES_VERSION, PassageItem, merge_passages
from ingest.readers import (
    METADATA_FILE,
    Skipped,
    fingerprint_bytes,
    list_source_files,
    load_metadata,
    merge_meta,
    read_regular_file,
    scan_sources,
)
from ingest.records import Passage, SourceMeta


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
    embedded_multilingual: int = 0  # passages embedded by the multilingual encoder (the others reused)


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


def multilingual_is_current(manifest: Manifest, settings: Settings) -> bool:
    """Whether a version's multilingual part is what the settings ask for (none, or this codec). Not a build
    parameter: adding or dropping the part reads no source again and re-embeds nothing else."""
    if not settings.multilingual:
        return not manifest.multilingual
    return manifest.multilingual.get("codec") == settings.multilingual_codec


def _with_metadata_fingerprint(prints: dict[str, str], sources_dir: Path) -> dict[str, str]:
    """`prints` plus the fingerprint of the sidecar metadata file, when there is one."""
    meta = sources_dir / METADATA_FILE
    if meta.exists():
        prints[METADATA_FILE] = fingerprint_bytes(meta.read_bytes())
    return prints


def source_fingerprints(sources_dir: Path) -> dict[str, str]:
    """File name -> content fingerprint for every indexable file, plus the metadata file."""
    prints = {
        p.relative_to(sources_dir).as_posix(): fingerprint_bytes(read_regular_file(p)) for p in list_source_files(sources_dir)
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
        and multilingual_is_current(manifest, settings)
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


# ---------------------------------------------------------------- stage 2: merge


@dataclass
class Assembled:
    """Every source's contribution to the new version, in file order."""

    sources: list[tuple[SourceMeta, str, str]]  # own metadata, fingerprint, cleaned text
    passages: list[Passage]
    fingerprints: dict[str, str]
    skipped: list[Skipped]


def assemble_sources(outcomes: Iterable[SourceOutcome], live: IndexVersion | None) -> Assembled:
    """Merge the read stage's outcomes (unchanged files from `live`) into one passage list."""
    live_items = _items_by_file(live) if live is not None else {}
    sources: list[tuple[SourceMeta, str, str]] = []
    items: list[PassageItem] = []
    fingerprints: dict[str, str] = {}
    skipped: list[Skipped] = []
    for outcome in outcomes:
        if outcome.fingerprint is not None:
            # Every file counts, skipped ones too: the index is current until one of them changes.
            fingerprints[outcome.file] = outcome.fingerprint
        if outcome.skipped:
            skipped.append(Skipped(outcome.file, outcome.skipped))
        elif outcome.unchanged:
            previous = live.sources[outcome.file]
            sources.append((previous.own_meta, outcome.fingerprint, previous.text))
            items.extend(live_items.get(outcome.file, []))
        else:
            sources.append((outcome.meta, outcome.fingerprint, outcome.text))
            items.extend(outcome.items)
    return Assembled(sources, merge_passages(items), fingerprints, skipped)


# ---------------------------------------------------------------- stage 3: what needs embedding


@dataclass
class Vectors:
    """Each passage's vector and sentence vectors; `todo` rows still need embedding."""

    passage: np.ndarray
    sentences: list[np.ndarray]
    todo: list[int]


def reuse_vectors(passages: list[Passage], live: IndexVersion | None, dimension: int) -> Vectors:
    """Vectors of passages the live version already has (by id); the other rows are left to embed."""
    known = live.row_of_id if live is not None else {}
    vectors = np.zeros((len(passages), dimension), dtype=np.float32)
    sentence_vectors: list[np.ndarray] = [np.zeros((0, dimension), dtype=np.float32)] * len(passages)
    todo = []
    for i, p in enumerate(passages):
        row = known.get(p.id)
        if row is None:
            todo.append(i)
        else:
            vectors[i], sentence_vectors[i] = live.vectors[row], live.sentence_vectors(row)
    return Vectors(vectors, sentence_vectors, todo)


def multilingual_part(
    passages: list[Passage], live: IndexVersion | None, runner: BuildRunner, settings: Settings, progress: bool,
    lines: bool = False, report: Report | None = None,
) -> tuple[MultilingualPart | None, int]:
    """Stage 4b: every passage's multilingual vector (those the live version has by the same encoder are decoded
    from it, the others embedded) and language; and how many were embedded. None for an index without passages."""
    if not passages:
        return None, 0
    encoder = shipped_entry(MULTILINGUAL_MODEL)
    part = live.multilingual if live is not None else None
    known = live.row_of_id if part is not None and part.encoder.get("files") == encoder["files"] else {}
    old = part.vectors() if known else None
    rows = [known.get(p.id) for p in passages]
    todo = [i for i, row in enumerate(rows) if row is None]
    new = runner.embed_multilingual([passages[i].text for i in todo], settings, progress, lines, report=report) if todo else None
    vectors = np.zeros((len(passages), (new if new is not None else old).shape[1]), dtype=np.float32)
    if new is not None:
        vectors[todo] = new
    for i, row in enumerate(rows):
        if row is not None:
            vectors[i] = old[row]
    languages = [passage_language(p.text) for p in passages]
    return MultilingualPart(vectors, languages, encoder, settings.multilingual_codec), len(todo)


# ---------------------------------------------------------------- where stages 1 and 4 run


class BuildRunner(Protocol):
    """Runs the read and embed stages: in this process (LocalRunner) or on a Ray cluster (RayRunner)."""

    def read(
        self, paths: list[Path], settings: Settings, known: dict[str, str], progress: bool, lines: bool = False,
        report: Report | None = None,
    ) -> list[SourceOutcome]:
        """`read_source` of every path, in the order given; `progress` bars, `lines` every 10 s (logs), or
        each step to `report` (the web app's bar)."""
        ...

    def embed(
        self, texts: list[str], sentences: list[list[tuple[int, int]]], settings: Settings, progress: bool, lines: bool = False,
        report: Report | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors and per-sentence vectors, as `Embedder.encode_passages` computes them."""
        ...

    def embed_multilingual(
        self, texts: list[str], settings: Settings, progress: bool, lines: bool = False, report: Report | None = None
    ) -> np.ndarray:
        """Passage vectors by the multilingual encoder (MULTILINGUAL_MODEL), for the multilingual part."""
        ...

    def dimension(self, settings: Settings) -> int:
        """The model's vector dimension."""
        ...


class LocalRunner:
    """Both stages in this process: files one after the other, embedding on every core."""

    def __init__(self, embedder: Embedder | OnnxEncoder) -> None:
        self.embedder = embedder

    def read(
        self, paths: list[Path], settings: Settings, known: dict[str, str], progress: bool, lines: bool = False,
        report: Report | None = None,
    ) -> list[SourceOutcome]:
        if progress and report is None:
            from tqdm import tqdm

            paths = tqdm(paths, desc="reading sources", unit="file")
        paths = counted(paths, "reading sources", "files", enabled=lines or report is not None, describe=lambda p: p.name, report=report)
        sources_dir = settings.sources_dir
        outcomes = []
        for path in paths:
            # A scanned file's pages are recognized side by side, cached in the index, counted page by page.
            with ocr_settings(ocr_for(settings, path.name, progress, lines, report=report)):
                outcomes.append(
                    read_source(
                        path,
                        sources_dir,
                        known.get(path.relative_to(sources_dir).as_posix()),
                        self.embedder.count_tokens,
                        settings.max_passage_tokens,
                        settings.passage_overlap,
                    )
                )
        return outcomes

    def embed(
        self, texts: list[str], sentences: list[list[tuple[int, int]]], settings: Settings, progress: bool, lines: bool = False,
        report: Report | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        counting = lines or report is not None
        with ProgressLines("embedding", len(texts), "passages", report=report) if counting else nullcontext() as meter:
            return self.embedder.encode_passages(
                texts, sentences, batch_size=settings.embed_batch_size, progress=progress and report is None,
                on_progress=meter.update if meter else None,
            )

    def embed_multilingual(
        self, texts: list[str], settings: Settings, progress: bool, lines: bool = False, report: Report | None = None
    ) -> np.ndarray:
        encoder = get_embedder(MULTILINGUAL_MODEL)  # loaded only by a build that has passages to embed with it
        counting = lines or report is not None
        with ProgressLines("embedding (multilingual)", len(texts), "passages", report=report) if counting else nullcontext() as meter:
            vectors, _ = encoder.encode_passages(
                texts, [[] for _ in texts], batch_size=settings.embed_batch_size, progress=progress and report is None,
                on_progress=meter.update if meter else None,
            )
        return vectors

    def dimension(self, settings: Settings) -> int:
        return self.embedder.dimension


def default_runner(settings: Settings, embedder: Embedder | OnnxEncoder | None = None) -> BuildRunner:
    """A Ray runner when `settings.ray_address` is set (Ray is imported only then), else a local one."""
    if settings.ray_address:
        from index.build.ray_runner import RayRunner

        return RayRunner(settings.ray_address, workers=settings.ray_workers, gpus_per_worker=settings.ray_gpus)
    return LocalRunner(embedder or get_embedder(settings.model, settings.embed_runtime))


# ---------------------------------------------------------------- the build


def build_index(
    settings: Settings,
    embedder: Embedder | OnnxEncoder | None = None,
    full: bool = False,
    progress: bool = False,
    progress_lines: bool = False,
    runner: BuildRunner | None = None,
    report: Report | None = None,
) -> BuildReport:
    """Build a new index version from `settings.sources_dir` and make it live.

    Unreadable files are skipped and reported. Unless `full`, a source whose bytes are unchanged is
    not read again (its passages come from the live index) and passages already embedded keep their
    vectors, so a rebuild costs about the new text only. `runner` decides where reading and embedding
    run (default: on Ray when `settings.ray_address` is set, else here). `progress` shows bars (a
    terminal); `progress_lines` writes a line every 10 s to stderr instead (logs, CI); `report` hears
    each step's line, count and ETA instead of both (the web app's progress bar).

    The sources folder is held shared for the whole build (adds and removes wait), so the manifest
    describes exactly the files and metadata that were read. Temporary folders of builds that died
    are removed first: whoever holds the build lock is the only build running.
    """
    started = time.perf_counter()
    if not settings.sources_dir.is_dir():
        raise FileNotFoundError(f"sources folder {settings.sources_dir} does not exist")
    with build_lock(settings.index_dir), sources_lock(settings.sources_dir, shared=True):
        remove_dead_temporaries(settings.index_dir)
        preflight(store_config(settings))  # a store that cannot take this build refuses it before any work
        if runner is not None:
            return _build(settings, runner, full, progress, progress_lines, started, report)
        with _step("loading the embedding model", report):
            runner = default_runner(settings, embedder)
        try:
            return _build(settings, runner, full, progress, progress_lines, started, report)
        finally:
            close = getattr(runner, "close", None)  # a Ray started for this build stops with it
            if close is not None:
                close()


def _step(label: str, report: Report | None):
    """A step that cannot count itself, said every second to `report` (nothing without one)."""
    return Heartbeat(label, report) if report is not None else nullcontext()


def _build(
    settings: Settings, runner: BuildRunner, full: bool, progress: bool, progress_lines: bool, started: float,
    report: Report | None = None,
) -> BuildReport:
    live = _reusable_version(settings, full)
    same_params = live is not None and live.manifest.build_params == build_params(settings)
    known = {name: record.fingerprint for name, record in live.sources.items()} if same_params else {}
    sidecar = load_metadata(settings.sources_dir)
    files, links = scan_sources(settings.sources_dir)  # symbolic links are not indexed: the report says why
    outcomes = runner.read(files, settings, known, progress, progress_lines, report=report)
    assembled = assemble_sources(outcomes, live if same_params else None)
    passages = assembled.passages
    dimension = live.manifest.dimension if live is not None else runner.dimension(settings)
    vectors = reuse_vectors(passages, live, dimension)
    if vectors.todo:
        new_vectors, new_sentences = runner.embed(
            [passages[i].text for i in vectors.todo],
            [[(s.start, s.end) for s in passages[i].sentences] for i in vectors.todo],
            settings,
            progress,
            progress_lines,
            report=report,
        )
        vectors.passage[vectors.todo] = new_vectors
        for i, rows in zip(vectors.todo, new_sentences, strict=True):
            vectors.sentences[i] = rows
    multilingual, embedded_multilingual = (
        multilingual_part(passages, live, runner, settings, progress, progress_lines, report) if settings.multilingual else (None, 0)
    )
    with _step(f"writing the new index version ({len(passages):,} passages)", report):
        # The question encoder (ONNX) comes from the model in this process; a Ray build loads it here once.
        encoder = ensure_query_encoder(
            getattr(runner, "embedder", None) or get_embedder(settings.model, settings.embed_runtime)
        )
        version, records = write_built_version(settings, assembled, vectors, sidecar, dimension, full, encoder, multilingual)
    return BuildReport(
        version=version,
        sources=len(records),
        passages=len(passages),
        embedded=len(vectors.todo),
        reused=len(passages) - len(vectors.todo),
        skipped=tuple(links + assembled.skipped),
        seconds=time.perf_counter() - started,
        embedded_multilingual=embedded_multilingual,
    )


def write_built_version(
    settings: Settings,
    assembled: Assembled,
    vectors: Vectors,
    sidecar: dict[str, SourceMeta],
    dimension: int,
    full: bool,
    query_encoder: dict,
    multilingual: MultilingualPart | None = None,
) -> tuple[Path, list[SourceRecord]]:
    """Stage 5: the manifest and source records, then the version written and switched live."""
    counts: dict[str, int] = {}
    for p in assembled.passages:
        for file in p.files:
            counts[file] = counts.get(file, 0) + 1
    records = [
        SourceRecord(merge_meta(sidecar.get(own.file), own), own, fingerprint, text, counts.get(own.file, 0))
        for own, fingerprint, text in assembled.sources
    ]
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        model=settings.model,
        dimension=dimension,
        passage_count=len(assembled.passages),
        sources=_with_metadata_fingerprint(assembled.fingerprints, settings.sources_dir),
        build_params=build_params(settings),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        query_encoder=query_encoder,
    )
    version = write_version(
        settings.index_dir,
        manifest,
        records,
        assembled.passages,
        vectors.passage,
        vectors.sentences,
        store=store_config(settings),
        full=full,
        multilingual=multilingual,
    )
    return version, records


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
    authors: tuple[str, ...] = ()


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
        if record is not None and record.fingerprint != fingerprint_bytes(read_regular_file(path)):
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
                authors=meta.authors if meta else (),
            )
        )
    return rows
