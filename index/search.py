"""The one search path: question -> ranked passages with evidence. CLI, app and eval all call it."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from index.answerability import (
    Signals,
    expected_type,
    has_type,
    missing_rarest,
    rare_term_coverage,
    shipped_model,
    unknown_share,
)
from index.config import Settings
from index.embed import Embedder
from index.query_encoder import TextEncoder, open_query_encoder
from index.evidence import rerank_evidence, select_evidence, sentence_scores
from index.lexical import tokenize
from index.rerank import CrossEncoder, Reranked, get_reranker, rerank
from index.store import CURRENT, IndexError_, IndexVersion, Manifest, current_version_path, load_version, read_manifest
from ingest.records import Occurrence, Passage, SourceMeta, Span

MODES = ("dense", "lexical", "hybrid")
RECENT_QUESTIONS = 256  # candidates kept per Searcher (about 5 KB each)
RECENT_READINGS = 2 * RECENT_QUESTIONS  # cross-encoder calls kept (two per reranked question, ~100 bytes each)
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
_LOADER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="verbatim-model-load")


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
    signals: Signals | None = None  # what the answerability decision read (reranked searches)
    answerability: float | None = None  # its P(the sources answer)
    # What the parts reused from an earlier search of the same question (another mode or k) had cost:
    # the candidates, and the cross-encoder's readings.
    reused_ms: float = 0.0

    @property
    def fresh_ms(self) -> float:
        """What this answer costs a question asked for the first time (the figure eval and the bench report)."""
        return self.elapsed_ms + self.reused_ms


@dataclass(frozen=True)
class Candidates:
    """Rows of one index version worth ranking for a question, with each retriever's score."""

    index: IndexVersion
    question_vector: np.ndarray
    rows: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    best_sentence: np.ndarray  # cosine of each candidate's best-matching sentence
    lexical_confidence: float = 0.0  # best BM25 score / the most the question's terms can give
    found_at: float = 0.0  # time.perf_counter() when they were found, and how long that took
    seconds: float = 0.0

    def semantic(self, sentence_weight: float) -> np.ndarray:
        """Semantic score: the passage's cosine blended with its best sentence's."""
        return (1 - sentence_weight) * self.dense + sentence_weight * self.best_sentence


FUSIONS = ("convex", "adaptive", "minmax", "zscore", "rrf")


def _minmax(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min()) if len(x) else 0.0
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def _zscore(x: np.ndarray) -> np.ndarray:
    std = float(x.std()) if len(x) else 0.0
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)


def _ranks(x: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(x))
    ranks[np.argsort(-x, kind="stable")] = np.arange(1, len(x) + 1)
    return ranks


def fuse(
    dense: np.ndarray,
    lexical: np.ndarray,
    mode: str,
    dense_weight: float,
    method: str = "convex",
    lexical_confidence: float = 0.0,
    lexical_shift: float = 0.0,
) -> np.ndarray:
    """One ranking score per candidate.

    Hybrid methods: "convex" blends the cosine with BM25 scaled by its best score; "adaptive" does
    the same with a dense weight lowered by `lexical_shift * lexical_confidence`, trusting BM25
    more when one passage matches the question's terms fully; "minmax" and "zscore" normalize both
    first; "rrf" is reciprocal rank fusion (k=60).
    """
    if mode == "dense":
        return dense
    if mode == "lexical":
        return lexical
    dense = dense.astype(np.float64)
    lexical = lexical.astype(np.float64)
    w = dense_weight
    if method in ("convex", "adaptive"):
        if method == "adaptive":
            w = min(1.0, max(0.0, w - lexical_shift * lexical_confidence))
        top = float(lexical.max()) if len(lexical) else 0.0
        return w * dense + (1 - w) * (lexical / top if top > 0 else lexical)
    if method == "minmax":
        return w * _minmax(dense) + (1 - w) * _minmax(lexical)
    if method == "zscore":
        return w * _zscore(dense) + (1 - w) * _zscore(lexical)
    if method == "rrf":
        return 1 / (60 + _ranks(dense)) + 1 / (60 + _ranks(lexical))
    raise ValueError(f"unknown fusion {method!r}; choose one of {', '.join(FUSIONS)}")


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


def _best_sentence(index: IndexVersion, rows: np.ndarray, question_vector: np.ndarray) -> np.ndarray:
    """For each row, the highest cosine between the question and one of the passage's sentences."""
    if not len(rows):
        return np.zeros(0, dtype=np.float32)
    starts, ends = index.sentence_rows[rows], index.sentence_rows[rows + 1]
    picked = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
    sims = index.sentence_matrix[picked].astype(np.float32) @ question_vector
    offsets = np.concatenate([[0], np.cumsum(ends - starts)[:-1]])
    return np.maximum.reduceat(sims, offsets)


def answer_signals(question: str, c: Candidates, reranked: Reranked, head: np.ndarray, top: int, sentence_logits: np.ndarray) -> Signals:
    """What the answerability decision reads: the cross-encoder's verdict on the head and on the top
    passage's sentences (`sentence_logits`), and what the top passage holds."""
    logits = np.sort(reranked.logits)[::-1]
    passage = c.index.passages[c.rows[top]]
    position = int(np.flatnonzero(head == top)[0]) if top in head else 0
    first, last = reranked.windows[position]
    read = passage.text[passage.sentences[first].start : passage.sentences[last].end] if passage.sentences else passage.text
    best = int(np.argmax(sentence_logits)) if len(sentence_logits) else -1
    sentence = passage.text[passage.sentences[best].start : passage.sentences[best].end] if best >= 0 and passage.sentences else read
    terms = tokenize([question])[0]
    idf_of = getattr(c.index.lexical, "idf", None)  # Milvus full-text search does not expose frequencies
    idf = idf_of(terms) if idf_of else dict.fromkeys(terms, 1.0)
    unknown_idf = idf_of(["\u2400"])["\u2400"] if idf_of else 1.0  # what a term no passage holds weighs
    passage_terms = set(tokenize([passage.text])[0])
    kind = expected_type(question)
    return Signals(
        ce_top=float(logits[0]),
        ce_margin=float(logits[0] - logits[1]) if len(logits) > 1 else 0.0,
        best_sentence=float(c.best_sentence.max()),
        lexical_confidence=c.lexical_confidence,
        rare_coverage=rare_term_coverage(terms, passage_terms, idf),
        type_asked=float(kind is not None),
        type_missing=float(kind is not None and not has_type(read, kind, question)),
        window_coverage=rare_term_coverage(terms, set(tokenize([read])[0]), idf),
        unknown_terms=unknown_share(terms, idf, unknown_idf) if idf_of else 0.0,
        missing_top_idf=missing_rarest(terms, passage_terms, idf, unknown_idf),
        ce_sentence_top=float(sentence_logits[best]) if best >= 0 else float(logits[0]),
        sentence_type_missing=float(kind is not None and not has_type(sentence, kind, question)),
        sentence_coverage=rare_term_coverage(terms, set(tokenize([sentence])[0]), idf),
    )


class Recent(Generic[K, V]):
    """The last `size` items put, by key; thread-safe. What a Searcher keeps of its last questions."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class RecentLogits:
    """The cross-encoder's logits of the last calls, by (model, question, texts).

    A reranked question asked again, with another k (eval's coverage, the web app's controls), reads
    nothing twice. Whole calls are kept, not single pairs: the int8 model's logits depend on which texts
    are batched together, so only the same call may give the same logits.
    """

    def __init__(self, size: int = RECENT_READINGS) -> None:
        self._logits: Recent[bytes, tuple[np.ndarray, float]] = Recent(size)

    @staticmethod
    def _key(model: str, question: str, texts: list[str]) -> bytes:
        digest = hashlib.blake2b(digest_size=16)
        for part in (model, question, *texts):  # each part's length first: no two lists hash alike by joining
            data = part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "little") + data)
        return digest.digest()

    def score(self, model: CrossEncoder, question: str, texts: list[str]) -> tuple[np.ndarray, float]:
        """The logits (read-only), and what computing them had cost when they were kept from before (else 0)."""
        key = self._key(model.name, question, texts)
        found = self._logits.get(key)
        if found is not None:
            return found
        started = time.perf_counter()
        logits = model.score(question, texts)
        seconds = time.perf_counter() - started
        logits.flags.writeable = False
        self._logits.put(key, (logits, seconds))
        return logits, 0.0


@dataclass
class Reading:
    """The cross-encoder as one search calls it: calls made before are answered from the Searcher's
    RecentLogits, and what they had cost is added up for Answer.reused_ms. The model is fetched at the
    first call (a search that reads nothing, or fails before, never loads it)."""

    model: Callable[[], CrossEncoder]
    recent: RecentLogits
    reused_seconds: float = 0.0

    @property
    def name(self) -> str:
        return self.model().name

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        logits, reused = self.recent.score(self.model(), question, texts)
        self.reused_seconds += reused
        return logits


@dataclass(frozen=True)
class Ranking:
    """One question's candidates in final order, with the second stage's verdict when it ran."""

    candidates: Candidates
    scores: np.ndarray
    order: list[int]
    reranked: Reranked | None = None
    head: np.ndarray | None = None


class Searcher:
    """Searches the live index of `settings.index_dir`; follows a rebuild without restarting."""

    def __init__(self, settings: Settings, embedder: Embedder | TextEncoder | None = None) -> None:
        self.settings = settings
        # By default questions are encoded by the ONNX encoder the index names (no torch import).
        self._given_encoder = embedder
        self._lock = threading.Lock()
        self._pointer: str | None = None
        self._index: IndexVersion | None = None
        self._models: dict[tuple, Future] = {}  # the ONNX models a question needs, loading or loaded
        self._models_lock = threading.Lock()
        # The last questions' candidates: the same question in another mode, with another k, or asked again
        # (the web app's controls, eval's --mode all) skips encoding and both retrievers.
        self._recent: Recent[tuple, Candidates] = Recent(RECENT_QUESTIONS)
        self._recent_logits = RecentLogits()  # and the cross-encoder's readings of them

    def index(self) -> IndexVersion:
        """The live index version, reloaded when CURRENT points elsewhere (a finished rebuild)."""
        pointer_path = Path(self.settings.index_dir) / CURRENT
        try:
            pointer = pointer_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pointer = None
        with self._lock:
            if self._index is None or pointer != self._pointer:
                self._preload_models()
                self._index = load_version(
                    self.settings.index_dir,
                    expected_model=self.settings.model,
                    expected_store=self.settings.store,
                    expected_lexical=self.settings.lexical,
                )
                self._pointer = pointer
            return self._index

    def warm(self) -> None:
        """Load the live index and the models a question needs, ahead of the first question.

        A fault is not raised here: the first question reports it, with its fix.
        """
        try:
            index = self.index()
            self.encoder(index)
            if self.settings.rerank:
                self.reranker()
        except Exception:  # noqa: BLE001 - reported by the question that meets it
            pass

    def encoder(self, index: IndexVersion) -> Embedder | TextEncoder:
        """What encodes questions for `index`: the encoder given to the Searcher, else the index's own."""
        if self._given_encoder is not None:
            return self._given_encoder
        return self._model(("encoder", index.manifest.query_encoder), lambda: self._open_encoder(index.manifest))

    def reranker(self) -> CrossEncoder:
        """The cross-encoder of the second stage, loaded once."""
        name = self.settings.reranker
        return self._model(("reranker", name), lambda: get_reranker(name))

    def reading(self) -> Reading:
        """The cross-encoder for one search: what it read for an earlier search is not read again."""
        return Reading(self.reranker, self._recent_logits)

    def _open_encoder(self, manifest: Manifest) -> TextEncoder:
        return open_query_encoder(self.settings.index_dir, manifest.query_encoder, self.settings.model)

    def _submit(self, key: tuple, load: Callable[[], object]) -> tuple[tuple, Future]:
        """The load of `key`, started on a loader thread unless it already runs or ran; (hashable key, future)."""
        key = tuple(json.dumps(part, sort_keys=True) if isinstance(part, dict) else part for part in key)
        with self._models_lock:
            if key not in self._models:
                self._models[key] = _LOADER.submit(load)
            return key, self._models[key]

    def _model(self, key: tuple, load: Callable[[], T]) -> T:
        """`load()` once per key; a load that failed is tried again on the next question (a file fixed)."""
        key, future = self._submit(key, load)
        try:
            return future.result()
        except Exception:
            with self._models_lock:
                if self._models.get(key) is future:
                    del self._models[key]
            raise

    def _preload_models(self) -> None:
        """Start loading the question encoder and the cross-encoder on other threads as soon as the
        manifest is known: onnxruntime builds its sessions (and the sha256 checks run) without the
        GIL, while this thread loads the index files. A cold start pays the longest, not the sum."""
        if self._given_encoder is not None:
            return
        version = current_version_path(Path(self.settings.index_dir))
        try:
            manifest = read_manifest(version) if version is not None else None
        except IndexError_:
            return  # load_version reports it
        if manifest is None:
            return
        self._submit(("encoder", manifest.query_encoder), lambda: self._open_encoder(manifest))
        if self.settings.rerank:
            name = self.settings.reranker
            self._submit(("reranker", name), lambda: get_reranker(name))

    def candidates(self, question: str, files: list[str] | None = None) -> Candidates:
        """The passages worth ranking for `question`, with both retrievers' exact scores.

        They depend on the question, the files and the index version only, so the last RECENT_QUESTIONS
        are kept (read-only) and reused whatever the mode or k (Answer.reused_ms says what that saved).
        """
        index = self.index()  # one consistent version for the whole question
        key = (str(index.path), question, tuple(files) if files else None)
        found = self._recent.get(key)
        if found is not None:
            return found
        started = time.perf_counter()
        found = replace(self._find_candidates(index, question, files), found_at=started, seconds=time.perf_counter() - started)
        for array in (found.question_vector, found.rows, found.dense, found.lexical, found.best_sentence):
            array.flags.writeable = False  # shared by later searches: nobody may change them
        self._recent.put(key, found)
        return found

    def _find_candidates(self, index: IndexVersion, question: str, files: list[str] | None) -> Candidates:
        question_vector = self.encoder(index).encode([question])[0]
        lexical_query = index.lexical.query(question)
        if files:
            wanted = set(files)
            rows = np.flatnonzero([bool(wanted & set(p.files)) for p in index.passages])
        else:
            n = self.settings.candidates
            ids, _ = index.dense.search(question_vector, n)
            dense_rows = {index.row_of_id[int(i)] for i in ids}
            lexical_rows = {int(r) for r in lexical_query.top(n)}
            rows = np.array(sorted(dense_rows | lexical_rows), dtype=np.int64)
        dense = index.vectors[rows] @ question_vector if len(rows) else np.zeros(0, dtype=np.float32)
        lexical = lexical_query.at(rows) if len(rows) else np.zeros(0, dtype=np.float32)
        bound = lexical_query.bound
        confidence = float(lexical.max()) / bound if bound > 0 and len(rows) else 0.0
        return Candidates(
            index, question_vector, rows, dense, lexical, _best_sentence(index, rows, question_vector), confidence
        )

    def rerank(
        self, question: str, c: Candidates, fused: np.ndarray, reading: Reading | None = None
    ) -> tuple[Reranked, np.ndarray]:
        """The cross-encoder's pass over the top `rerank_top` fused candidates; also their positions."""
        s = self.settings
        head = np.argsort(-fused, kind="stable")[: s.rerank_top]
        passages = [c.index.passages[c.rows[i]] for i in head]
        terms = set(tokenize([question])[0])
        bi = [
            sentence_scores(c.question_vector, terms, [p.text[x.start : x.end] for x in p.sentences], c.index.sentence_vectors(c.rows[i]))
            for p, i in zip(passages, head, strict=True)
        ]
        reranked = rerank(
            reading or self.reading(), question, passages, bi, fused, head, s.rerank_fused_weight, s.rerank_window_chars, s.rerank_text,
            s.rerank_passages,
        )
        return reranked, head

    def rank(
        self, question: str, mode: str, rerank: bool, files: list[str] | None = None, reading: Reading | None = None
    ) -> Ranking:
        """Candidates in their final order: fused, then (with `rerank`) re-scored by the cross-encoder."""
        s = self.settings
        c = self.candidates(question, files)
        scores = fuse(
            c.semantic(s.sentence_weight), c.lexical, mode, s.dense_weight, s.fusion, c.lexical_confidence, s.lexical_shift
        )
        reranked = head = None
        if rerank and len(c.rows):
            reranked, head = self.rerank(question, c, scores, reading)
            scores = reranked.scores
        order = sorted(range(len(c.rows)), key=lambda i: -scores[i])
        return Ranking(c, scores, order, reranked, head)

    def read_sentences(
        self, question: str, c: Candidates, position: int, reading: Reading | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The cross-encoder's logit and the bi-encoder's score of each sentence of candidate `position`."""
        passage = c.index.passages[c.rows[position]]
        texts = [passage.text[x.start : x.end] for x in passage.sentences]
        if not texts:
            return np.zeros(0, dtype=np.float32), np.zeros(0)
        bi = sentence_scores(c.question_vector, set(tokenize([question])[0]), texts, c.index.sentence_vectors(c.rows[position]))
        return (reading or self.reading()).score(question, texts), bi

    def decide(self, question: str, ranking: Ranking, sentence_logits: np.ndarray) -> tuple[Signals, float | None, bool | None]:
        """Signals of a reranked ranking, and the answerability model's P(answers) and verdict
        (None when the shipped weights were fitted on another cross-encoder's logits)."""
        signals = answer_signals(question, ranking.candidates, ranking.reranked, ranking.head, ranking.order[0], sentence_logits)
        model = shipped_model()
        if model.reranker != self.settings.reranker:
            return signals, None, None
        probability = model.probability(signals)
        return signals, probability, probability < model.threshold

    def search(
        self,
        question: str,
        k: int | None = None,
        mode: str | None = None,
        files: list[str] | None = None,
        rerank: bool | None = None,
    ) -> Answer:
        """Rank passages for `question`; `files` restricts the search to those sources.

        `rerank` (default: the setting) adds the cross-encoder's second stage over the fused ranking.
        """
        started = time.perf_counter()
        s = self.settings
        k = k or s.k
        mode = mode or s.mode
        rerank = s.rerank if rerank is None else rerank
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        reading = self.reading() if rerank else None
        ranking = self.rank(question, mode, rerank, files, reading)
        c, scores, order, reranked = ranking.candidates, ranking.scores, ranking.order, ranking.reranked
        index = c.index
        files_of = [index.passages[r].files for r in c.rows]
        chosen = diversify(order, scores, files_of, k, s.diversify_ratio)

        best_sentence = float(c.best_sentence.max()) if len(c.best_sentence) else 0.0
        abstained = best_sentence < s.abstain_below
        signals = probability = None
        passages = [index.passages[c.rows[i]] for i in chosen]
        evidence = select_evidence(
            c.question_vector, question, passages, [index.sentence_vectors(c.rows[i]) for i in chosen], s.evidence_margin
        )
        if reranked is not None and chosen:
            # The top hit's sentences, read once: the decision looks at its best one, and when the
            # sources answer, they choose the highlight (the cross-encoder tells the answering
            # sentence from one on the same topic better than cosine; README "Quality").
            logits, bi = self.read_sentences(question, c, chosen[0], reading)
            signals, probability, verdict = self.decide(question, ranking, logits)
            if verdict is not None:
                abstained = verdict
            if not abstained:
                evidence[0] = rerank_evidence(question, passages[0], logits, bi, s.evidence_bi_weight, s.evidence_rerank_margin)
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
        reused = (c.seconds if c.found_at < started else 0.0) + (reading.reused_seconds if reading else 0.0)
        return Answer(
            question=question,
            mode=mode,
            hits=hits,
            abstained=abstained,
            version=index.path.name,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            signals=signals,
            answerability=probability,
            reused_ms=reused * 1000,
        )
