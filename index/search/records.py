"""The records a question's path passes from stage to stage (index/search/pipeline.py strings them together).

candidates -> Candidates; fusion -> Fused; reranking -> Ranking; reading -> Reading; decision -> Decision;
highlight -> Hit per shown passage; what each source says -> SourceSays; all of it -> Answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from index.search.answerability import Signals
from index.models.reader import AnswerSpan
from index.models.rerank import Reranked
from index.search.span_check import SpanGate
from index.storage.store import IndexVersion
from ingest.records import Occurrence, Passage, SourceMeta, Span


ENGLISH_ROUTE = "english"  # the English models: MiniLM + BM25 fused, the English cross-encoder and reader
MULTILINGUAL_ROUTE = "multilingual"  # the multilingual encoder's vectors alone, in their own order


@dataclass(frozen=True)
class Candidates:
    """Rows of one index version worth ranking for a question, with each retriever's score.

    On the multilingual route (a question in another language than English) `dense` holds the multilingual
    encoder's cosines and `lexical` zeros; `question_vector` and `best_sentence` stay the index's own encoder's (the
    sentence vectors the highlight reads are its). `crosslingual`: the multilingual cosine of each row, when the
    multilingual vectors were searched (empty otherwise).
    """

    index: IndexVersion
    question_vector: np.ndarray
    rows: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    best_sentence: np.ndarray  # cosine of each candidate's best-matching sentence
    lexical_confidence: float = 0.0  # best BM25 score / the most the question's terms can give
    found_at: float = 0.0  # time.perf_counter() when they were found, and how long that took
    seconds: float = 0.0
    route: str = ENGLISH_ROUTE
    language: str = "English"  # the question's, as ingest/language.py tells it
    crosslingual: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def semantic(self, sentence_weight: float) -> np.ndarray:
        """Semantic score: the passage's cosine blended with its best sentence's."""
        return (1 - sentence_weight) * self.dense + sentence_weight * self.best_sentence

    def passage(self, position: int) -> Passage:
        return self.index.passages[self.rows[position]]


@dataclass(frozen=True)
class Fused:
    """One score per candidate from the first stage's fusion of both retrievers."""

    candidates: Candidates
    scores: np.ndarray


@dataclass(frozen=True)
class Ranking:
    """Candidates in final order, the second stage's verdict when it ran, and the k shown (`chosen`,
    positions in the candidates, best first)."""

    candidates: Candidates
    scores: np.ndarray
    order: list[int]
    chosen: list[int]
    reranked: Reranked | None = None
    head: np.ndarray | None = None

    @property
    def passages(self) -> list[Passage]:
        return [self.candidates.passage(i) for i in self.chosen]


@dataclass(frozen=True)
class Reading:
    """What the models read of the shown passages: the reader's best span in each of the first ones
    (`spans[i]` for `chosen[i]`), and the cross-encoder's logit and the bi-encoder's score of each sentence
    of the first (empty arrays when the search was not reranked)."""

    spans: tuple[AnswerSpan, ...] = ()
    # The calibrated probability that each span is right (index/search/span_check.py); None without a gate
    # fitted on this reader.
    confidence: tuple[float | None, ...] = ()
    sentence_logits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    sentence_bi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gate: SpanGate | None = None  # the span gate fitted on the reader that read (its threshold decides what is shown)


@dataclass(frozen=True)
class Decision:
    """Whether the sources answer; `probability` and `signals` when the learned decision made it."""

    abstained: bool
    probability: float | None = None
    signals: Signals | None = None


@dataclass(frozen=True)
class Citation:
    """One place a passage stands: the source's metadata and the offsets in its cleaned text."""

    meta: SourceMeta
    occurrence: Occurrence
    ocr: bool = False  # the passage's text was recognized by OCR (a scan, an image): a quote may differ from the page


@dataclass(frozen=True)
class Hit:
    """One returned passage: its score, each retriever's score, evidence spans, the reader's answer
    span when it answers (offsets relative to the passage text, inside the evidence), citations."""

    passage: Passage
    score: float
    dense_score: float
    lexical_score: float
    evidence: tuple[Span, ...]
    citations: tuple[Citation, ...]
    answer: AnswerSpan | None = None

    @property
    def evidence_text(self) -> str:
        return " ".join(self.passage.text[s.start : s.end] for s in self.evidence)


@dataclass(frozen=True)
class SourceSays:
    """One source's own answer, when the first passages of several sources answer differently: the
    span (verbatim) in hit `rank` (1-based), and the citation to read it in context."""

    rank: int
    text: str
    citation: Citation


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
    sources_say: tuple[SourceSays, ...] = ()  # one line per source when sources answer differently
    route: str = ENGLISH_ROUTE  # which models answered (ENGLISH_ROUTE or MULTILINGUAL_ROUTE)
    language: str = "English"  # the question's

    @property
    def fresh_ms(self) -> float:
        """What this answer costs a question asked for the first time (the figure eval and the bench report)."""
        return self.elapsed_ms + self.reused_ms
