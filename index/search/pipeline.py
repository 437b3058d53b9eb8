"""The one search path: question -> Answer, as a sequence of stages, each entered once.

    candidates -> fusion -> ranking (rerank, k shown) -> reading (reader spans, sentence logits)
      -> decision (do the sources answer?) -> highlight (evidence, answer span) -> what each source says

Each stage is a function in its own module of index/search/, taking the records of the stages before it
(index/search/records.py) and returning its own. The Searcher holds what outlives a question: the live
index, the models (loaded once per process) and the last questions' candidates and model readings.
CLI, web app and eval all call `Searcher.search`.
"""

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

from index.search.answerability import shipped_model
from index.config import MULTILINGUAL_MODEL, Settings
from index.models.embed import Embedder
from index.models.query_encoder import TextEncoder, open_query_encoder
from index.models.reader import MULTILINGUAL_READER_DIR, AnswerSpan, Reader, get_reader
from index.models.rerank import CrossEncoder, get_reranker
from index.search.candidates import find_candidates, multilingual_candidates
from index.search.decision import decide
from index.search.filters import Filter, allowed_rows, parse_filter
from index.search.fusion import fuse_candidates
from index.search.highlight import highlight
from index.search.ranking import rank
from index.search.reading import read
from index.search.records import ENGLISH_ROUTE, MULTILINGUAL_ROUTE, Answer, Candidates, Ranking
from index.search.sources_say import sources_say
from index.storage.store import CURRENT, IndexError_, IndexVersion, Manifest, current_version_path, load_version, read_manifest
from ingest.language import ENGLISH, is_supported, question_language


MODES = ("dense", "lexical", "hybrid")
RECENT_QUESTIONS = 256  # candidates kept per Searcher (about 5 KB each)
RECENT_READINGS = 2 * RECENT_QUESTIONS  # cross-encoder calls kept (two per reranked question, ~100 bytes each)
RECENT_SPANS = 8 * RECENT_QUESTIONS  # reader spans kept, one per (question, passage)
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
_LOADER = ThreadPoolExecutor(max_workers=3, thread_name_prefix="verbatim-model-load")


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
class CrossEncoderCalls:
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


class ReaderCalls:
    """The reader as one search calls it: a passage it read for the same question before is not read
    again (each passage is read in a batch of its own, so a kept span is the one a fresh read gives)."""

    def __init__(self, reader: Callable[[], Reader], recent: Recent[tuple, tuple[AnswerSpan, float]]) -> None:
        self._reader = reader
        self._recent = recent
        self.reused_seconds = 0.0

    @property
    def sha256(self) -> str:
        return self._reader().sha256

    def read(self, question: str, texts: list[str]) -> list[AnswerSpan]:
        model = self._reader()
        keys = [(model.name, question, text) for text in texts]
        kept = {key: self._recent.get(key) for key in keys}
        self.reused_seconds += sum(seconds for _, seconds in filter(None, kept.values()))
        fresh = [key for key, value in kept.items() if value is None]
        if fresh:
            started = time.perf_counter()
            spans = model.read(question, [key[2] for key in fresh])
            each = (time.perf_counter() - started) / len(fresh)  # read side by side: the wall time, shared
            for key, span in zip(fresh, spans, strict=True):
                kept[key] = (span, each)
                self._recent.put(key, kept[key])
        return [kept[key][0] for key in keys]


def multilingual_route(has_multilingual_part: bool, language: str) -> bool:
    """Whether a question in `language` is answered by the multilingual route: another language than English that
    the index's multilingual part reads."""
    return has_multilingual_part and language != ENGLISH and is_supported(language)


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
        self._recent_spans: Recent[tuple, tuple[AnswerSpan, float]] = Recent(RECENT_SPANS)  # and the reader's
        self._masks: Recent[tuple, np.ndarray] = Recent(RECENT_QUESTIONS)  # the rows each recent filter lets through

    def index(self, language: str = ENGLISH) -> IndexVersion:
        """The live index version, reloaded when CURRENT points elsewhere (a finished rebuild). `language`: the
        question's, when a question asks (a first load then starts loading only the models its route needs)."""
        pointer_path = Path(self.settings.index_dir) / CURRENT
        try:
            pointer = pointer_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pointer = None
        with self._lock:
            if self._index is None or pointer != self._pointer:
                self._preload_models(language)
                self._index = load_version(
                    self.settings.index_dir,
                    expected_model=self.settings.model,
                    expected_store=self.settings.store,
                    expected_lexical=self.settings.lexical,
                )
                if not multilingual_route(self._index.multilingual is not None, language):
                    self._index.lexical.warm()  # the English route will need BM25
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
            if self.settings.rerank and self.settings.read:
                self.reader()
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

    def cross_encoder_calls(self) -> CrossEncoderCalls:
        """The cross-encoder for one search: what it read for an earlier search is not read again."""
        return CrossEncoderCalls(self.reranker, self._recent_logits)

    def reader(self) -> Reader:
        """The extractive reader (index/models/reader.py), loaded once."""
        return self._model(("reader",), get_reader)

    def reader_calls(self) -> ReaderCalls:
        """The reader for one search: a passage read for the same question before is not read again."""
        return ReaderCalls(self.reader, self._recent_spans)

    def multilingual_encoder(self, index: IndexVersion) -> TextEncoder:
        """The encoder of the index's multilingual part, loaded at the first search that needs it."""
        entry = index.manifest.multilingual["encoder"]
        return self._model(("multilingual", entry), lambda: open_query_encoder(self.settings.index_dir, entry, MULTILINGUAL_MODEL))

    def multilingual_reader_calls(self) -> ReaderCalls | None:
        """The multilingual reader for one search on the multilingual route, None until one is installed (the
        passages are then shown without an answer span)."""
        if not (MULTILINGUAL_READER_DIR / "model.onnx").is_file():
            return None
        return ReaderCalls(lambda: self._model(("reader", "multilingual"), lambda: get_reader(MULTILINGUAL_READER_DIR)), self._recent_spans)

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

    def _preload_models(self, language: str = ENGLISH) -> None:
        """Start loading the question encoder and the cross-encoder on other threads as soon as the
        manifest is known: onnxruntime builds its sessions (and the sha256 checks run) without the
        GIL, while this thread loads the index files. A cold start pays the longest, not the sum.
        A question in another language loads the multilingual encoder and reader instead of the English
        cross-encoder and reader (its route reads neither); an English one loads it only for a collection with passages in
        other languages."""
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
        multilingual = multilingual_route(bool(manifest.multilingual), language)
        if manifest.multilingual and (multilingual or manifest.multilingual.get("foreign")):
            entry = manifest.multilingual["encoder"]
            self._submit(("multilingual", entry), lambda: open_query_encoder(self.settings.index_dir, entry, MULTILINGUAL_MODEL))
        if multilingual:
            if self.settings.read and self.multilingual_reader_calls() is not None:
                self._submit(("reader", "multilingual"), lambda: get_reader(MULTILINGUAL_READER_DIR))
            return
        if self.settings.rerank:
            name = self.settings.reranker
            self._submit(("reranker", name), lambda: get_reranker(name))
        if self.settings.rerank and self.settings.read:  # the reader reads only after the second stage
            self._submit(("reader",), get_reader)

    def allowed(self, index: IndexVersion, where: Filter | None) -> np.ndarray | None:
        """The passage rows `where` lets through in `index` (a boolean mask, kept per filter), None for no filter."""
        if where is None:
            return None
        key = (str(index.path), where.key)
        mask = self._masks.get(key)
        if mask is None:
            mask = allowed_rows(index, where)
            self._masks.put(key, mask)
        return mask

    def candidates(self, question: str, files: list[str] | None = None, where: Filter | None = None) -> Candidates:
        """The passages worth ranking for `question`, with both retrievers' exact scores; with `where`,
        only passages of the documents it lets through (chosen before ranking, not removed after).

        They depend on the question, the files, the filter and the index version only, so the last
        RECENT_QUESTIONS are kept (read-only) and reused whatever the mode or k (Answer.reused_ms says
        what that saved).
        """
        index = self.index(question_language(question))  # one consistent version for the whole question
        key = (str(index.path), question, tuple(files) if files else None, where.key if where else None)
        found = self._recent.get(key)
        if found is not None:
            return found
        started = time.perf_counter()
        found = replace(
            self._find_candidates(index, question, files, self.allowed(index, where)),
            found_at=started, seconds=time.perf_counter() - started,
        )
        for array in (found.question_vector, found.rows, found.dense, found.lexical, found.best_sentence):
            array.flags.writeable = False  # shared by later searches: nobody may change them
        self._recent.put(key, found)
        return found

    def _find_candidates(
        self, index: IndexVersion, question: str, files: list[str] | None, allowed: np.ndarray | None = None
    ) -> Candidates:
        """The route: a question in another language the multilingual part reads -> its vectors alone; an English
        one (or one the index cannot read) -> the English models, plus the nearest passages in other languages."""
        s = self.settings
        part = index.multilingual
        language = question_language(question)  # (told twice per fresh question: it takes microseconds)
        if multilingual_route(part is not None, language):
            return multilingual_candidates(
                index, self.encoder(index), self.multilingual_encoder(index), question, language, files, s.candidates, allowed
            )
        across = self.multilingual_encoder(index) if part is not None and len(part.foreign_rows) else None
        found = find_candidates(
            index, self.encoder(index), question, files, s.candidates, across, s.crosslingual_candidates, allowed, s.ann_threshold
        )
        return replace(found, language=language)

    def rank(
        self, question: str, mode: str, rerank: bool, files: list[str] | None = None, k: int | None = None,
        cross_encoder: CrossEncoderCalls | None = None, where: Filter | None = None,
    ) -> Ranking:
        """Stages 1-3: candidates, fused, then (with `rerank`) re-scored by the cross-encoder; the k shown. The
        English cross-encoder does not read the multilingual route's candidates."""
        fused = fuse_candidates(self.candidates(question, files, where), mode, self.settings)
        rerank = rerank and fused.candidates.route == ENGLISH_ROUTE
        if rerank and cross_encoder is None:
            cross_encoder = self.cross_encoder_calls()
        return rank(question, fused, k or self.settings.k, self.settings, cross_encoder if rerank else None)

    def search(
        self,
        question: str,
        k: int | None = None,
        mode: str | None = None,
        files: list[str] | None = None,
        rerank: bool | None = None,
        where: Filter | dict | str | list[str] | None = None,
    ) -> Answer:
        """Answer `question` from the live index; `files` restricts the search to those sources, `where`
        to the documents whose metadata it matches (index/search/filters.py: a Filter, its dict form or
        `--where` clauses; FilterError on bad syntax).

        `rerank` (default: the setting) adds the cross-encoder's second stage over the fused ranking.
        """
        started = time.perf_counter()
        s = self.settings
        mode = mode or s.mode
        rerank = s.rerank if rerank is None else rerank
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        where = parse_filter(where)
        route = self.candidates(question, files, where).route
        if route == MULTILINGUAL_ROUTE:
            rerank = False  # the English cross-encoder cannot read the question
            cross_encoder, reader = None, self.multilingual_reader_calls() if s.read else None
        else:
            cross_encoder = self.cross_encoder_calls() if rerank else None
            reader = self.reader_calls() if s.read and rerank else None  # the reader follows the second stage
        ranking = self.rank(question, mode, rerank, files, k, cross_encoder, where)
        reading = read(question, ranking, s, reader, cross_encoder)
        decision = decide(question, ranking, reading, s, shipped_model())
        hits = highlight(question, ranking, reading, decision, s)
        said = () if decision.abstained else sources_say(hits)
        c = ranking.candidates
        reused = (c.seconds if c.found_at < started else 0.0) + sum(x.reused_seconds for x in (cross_encoder, reader) if x)
        return Answer(
            question=question,
            mode=mode,
            hits=hits,
            abstained=decision.abstained,
            version=c.index.path.name,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            signals=decision.signals,
            answerability=decision.probability,
            reused_ms=reused * 1000,
            sources_say=said,
            route=c.route,
            language=c.language,
        )
