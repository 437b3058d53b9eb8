"""Stage 4, reading: what the models read of the shown passages before the decision and the highlight.

- The extractive reader (index/models/reader.py) reads the first `reader_top` shown passages: each one's
  best answer span and its no-answer score.
- When the search was reranked, the cross-encoder reads the first passage's sentences one by one (its
  best sentence is a signal of the decision, and the logits choose the highlight).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from index.config import Settings
from index.search.evidence import sentence_scores
from index.storage.lexical import tokenize
from index.models.reader import AnswerSpan
from index.models.rerank import CrossEncoder
from index.search.records import Ranking, Reading
from index.search.span_check import confidence, gate_for


class SpanReader(Protocol):
    """What reads answer spans: the Reader, or the Searcher's ReaderCalls that keep its readings."""

    @property
    def sha256(self) -> str: ...

    def read(self, question: str, texts: list[str]) -> list[AnswerSpan]: ...


def read(question: str, ranking: Ranking, settings: Settings, reader: SpanReader | None, cross_encoder: CrossEncoder | None) -> Reading:
    """The stage: the reader's spans (with `reader`) and the first passage's sentence logits (with `cross_encoder`)."""
    c, chosen = ranking.candidates, ranking.chosen
    spans: tuple[AnswerSpan, ...] = ()
    sure: tuple[float | None, ...] = ()
    gate = None
    if reader is not None and chosen:
        texts = [c.passage(i).text for i in chosen[: settings.reader_top]]
        spans = tuple(reader.read(question, texts))
        gate = gate_for(reader.sha256)
        sure = tuple(confidence(span, gate, reader.sha256) for span in spans)
    logits, bi = np.zeros(0, dtype=np.float32), np.zeros(0)
    if cross_encoder is not None and chosen:
        first = chosen[0]
        passage = c.passage(first)
        texts = [passage.text[x.start : x.end] for x in passage.sentences]
        if texts:
            terms = set(tokenize([question])[0])
            bi = sentence_scores(c.question_vector, terms, texts, c.index.sentence_vectors(c.rows[first]))
            logits = cross_encoder.score(question, texts)
    return Reading(spans, sure, logits, bi, gate)
