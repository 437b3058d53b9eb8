"""The one search path: question -> ranked passages with evidence. CLI, app and eval all call it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.config import Settings
from index.embed import Embedder, get_embedder
from index.evidence import select_evidence
from index.store import CURRENT, IndexVersion, load_version
from ingest.records import Occurrence, Passage, SourceMeta, Span

MODES = ("dense", "lexical", "hybrid")


@dataclass(frozen=True)
class Citation:
    """One place a passage stands: the source's metadata and the offsets in its cleaned text."""

    meta: SourceMeta
    occurrence: Occurrence


@dataclass(frozen=True)
class Hit:
    """One returned passage: its fused score, each retriever's score, evidence spans, citations."""

    passage: Passage
    score: float
    dense_score: float
    lexical_score: float
    evidence: tuple[Span, ...]
    citations: tuple[Citation, ...]

    @property
    def evidence_text(self) -> str:
        return " ".join(self.passage.text[s.start : s.end] for s in self.evidence)


@dataclass(frozen=True)
class Answer:
    """The reply to one question. `abstained`: no passage answers; `hits` are then only the closest."""

    question: str
    mode: str
    hits: tuple[Hit, ...]
    abstained: bool
    version: str
    elapsed_ms: float


@dataclass(frozen=True)
class Candidates:
    """Rows of one index version worth ranking for a question, with each retriever's score."""

    index: IndexVersion
    question_vector: np.ndarray
    rows: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray


def fuse(dense: np.ndarray, lexical: np.ndarray, mode: str, dense_weight: float) -> np.ndarray:
    """One ranking score per candidate. Hybrid: cosine blended with BM25 scaled by its best score."""
    if mode == "dense":
        return dense
    if mode == "lexical":
        return lexical
    top = float(lexical.max()) if len(lexical) else 0.0
    scaled = lexical / top if top > 0 else lexical
    return dense_weight * dense + (1 - dense_weight) * scaled


def diversify(order: list[int], scores: np.ndarray, files: list[tuple[str, ...]], k: int, ratio: float) -> list[int]:
    """Top k of `order`, but every source whose best candidate scores >= ratio * top gets it in.

    So when sources disagree, each one's own best passage is shown, not k passages of one source.
    """
    if not order:
        return []
    top = float(scores[order[0]])
    promoted: list[int] = []
    seen: set[str] = set()
    for i in order:
        new = [f for f in files[i] if f not in seen]
        close_enough = scores[i] >= ratio * top if top > 0 else True
        if new and close_enough:
            promoted.append(i)
        seen.update(files[i])
    chosen = promoted[:k]
    for i in order:
        if len(chosen) >= k:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen, key=lambda i: -scores[i])


class Searcher:
    """Searches the live index of `settings.index_dir`; follows a rebuild without restarting."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or get_embedder(settings.model)
        self._lock = threading.Lock()
        self._pointer: str | None = None
        self._index: IndexVersion | None = None

    def index(self) -> IndexVersion:
        """The live index version, reloaded when CURRENT points elsewhere (a finished rebuild)."""
        pointer_path = Path(self.settings.index_dir) / CURRENT
        try:
            pointer = pointer_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pointer = None
        with self._lock:
            if self._index is None or pointer != self._pointer:
                self._index = load_version(self.settings.index_dir, expected_model=self.settings.model)
                self._pointer = pointer
            return self._index

    def candidates(self, question: str, files: list[str] | None = None) -> Candidates:
        """The passages worth ranking for `question`, with both retrievers' exact scores."""
        index = self.index()  # one consistent version for the whole question
        question_vector = self.embedder.encode([question])[0]
        lexical_all = index.lexical.scores(question)
        if files:
            wanted = set(files)
            rows = np.flatnonzero([bool(wanted & set(p.files)) for p in index.passages])
        else:
            n = self.settings.candidates
            ids, _ = index.dense.search(question_vector, n)
            dense_rows = {index.row_of_id[int(i)] for i in ids}
            top = np.argpartition(-lexical_all, n)[:n] if len(lexical_all) > n else np.arange(len(lexical_all))
            lexical_rows = {int(r) for r in top if lexical_all[r] > 0}
            rows = np.array(sorted(dense_rows | lexical_rows), dtype=np.int64)
        dense = index.vectors[rows] @ question_vector if len(rows) else np.zeros(0, dtype=np.float32)
        return Candidates(index, question_vector, rows, dense, lexical_all[rows])

    def search(
        self, question: str, k: int | None = None, mode: str | None = None, files: list[str] | None = None
    ) -> Answer:
        """Rank passages for `question`; `files` restricts the search to those sources."""
        started = time.perf_counter()
        s = self.settings
        k = k or s.k
        mode = mode or s.mode
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        c = self.candidates(question, files)
        index = c.index
        scores = fuse(c.dense, c.lexical, mode, s.dense_weight)
        order = sorted(range(len(c.rows)), key=lambda i: -scores[i])
        files_of = [index.passages[r].files for r in c.rows]
        chosen = diversify(order, scores, files_of, k, s.diversify_ratio)

        passages = [index.passages[c.rows[i]] for i in chosen]
        evidence = select_evidence(
            c.question_vector, question, passages, [index.sentence_vectors(c.rows[i]) for i in chosen], s.evidence_margin
        )
        hits = tuple(
            Hit(
                passage,
                float(scores[i]),
                float(c.dense[i]),
                float(c.lexical[i]),
                ev,
                tuple(Citation(index.sources[o.file].meta, o) for o in passage.occurrences),
            )
            for i, passage, ev in zip(chosen, passages, evidence, strict=True)
        )
        best_dense = float(c.dense.max()) if len(c.dense) else 0.0
        return Answer(
            question=question,
            mode=mode,
            hits=hits,
            abstained=best_dense < s.min_dense_score,
            version=index.path.name,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
