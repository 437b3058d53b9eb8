"""BM25 over passage texts with bm25s: English stopwords, Snowball stemming, no pickle on disk."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import Stemmer

if TYPE_CHECKING:
    import bm25s


def _bm25s():
    """bm25s, imported on first use: with scipy it costs ~0.2 s, which a cold start spends while the
    ONNX models load on other threads instead of before they start (index/search.py)."""
    import bm25s

    return bm25s

_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stopword-free, stemmed tokens; the same for passages and questions."""
    return _bm25s().tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


def terms_text(text: str) -> str:
    """`text`'s BM25 terms joined by spaces: what a full-text engine is given, so it sees the same tokens."""
    return " ".join(tokenize([text])[0])


class LexicalQuery(Protocol):
    """One question's BM25 scores over an index version's passage rows."""

    bound: float  # the most the question's terms can score (0 when the backend cannot tell)

    def top(self, n: int) -> np.ndarray:
        """Rows of the (up to) `n` best-scoring passages with a positive score."""
        ...

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The score of each of `rows` (0 where no question term occurs)."""
        ...


class ScoredQuery:
    """A LexicalQuery over a dense array of every row's score (bm25s scores them all at once)."""

    def __init__(self, scores: np.ndarray, bound: float) -> None:
        self.scores, self.bound = scores, bound

    def top(self, n: int) -> np.ndarray:
        top = np.argpartition(-self.scores, n)[:n] if len(self.scores) > n else np.arange(len(self.scores))
        return np.sort(top[self.scores[top] > 0])

    def at(self, rows: np.ndarray) -> np.ndarray:
        return self.scores[rows]


class LexicalIndex:
    """BM25 scores of every passage row for a question."""

    def __init__(self, retriever: bm25s.BM25, size: int) -> None:
        self._retriever = retriever
        self.size = size
        # The best score each term gives any passage: their sum over a question's terms bounds
        # what a passage can score, so top / bound says how fully the best passage matches.
        data, indptr = retriever.scores["data"], retriever.scores["indptr"]
        self._term_max = np.zeros(len(indptr) - 1, dtype=np.float32)
        nonempty = np.flatnonzero(np.diff(indptr) > 0)
        if len(nonempty):
            self._term_max[nonempty] = np.maximum.reduceat(data, indptr[nonempty])
        self._document_frequency = np.diff(indptr)

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25 inverse document frequency of each (tokenized) term; a term no passage has weighs most."""
        vocab = self._retriever.vocab_dict
        out = {}
        for term in terms:
            t = vocab.get(term, -1)
            df = int(self._document_frequency[t]) if 0 <= t < len(self._document_frequency) else 0
            out[term] = math.log(1 + (self.size - df + 0.5) / (df + 0.5))
        return out

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        retriever = _bm25s().BM25()
        tokens = tokenize(texts)
        # bm25s cannot index an empty corpus or an empty vocabulary; a placeholder keeps it valid.
        if not any(tokens):
            tokens = tokens + [["\u2400"]]
        retriever.index(tokens, show_progress=False)
        return cls(retriever, len(texts))

    def save(self, directory: Path) -> None:
        self._retriever.save(str(directory), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, size: int) -> LexicalIndex:
        retriever = _bm25s().BM25.load(str(directory), allow_pickle=False, mmap=False)
        return cls(retriever, size)

    def scores(self, question: str) -> tuple[np.ndarray, float]:
        """BM25 score of each passage row (0 where no question term occurs), and the score bound."""
        query = tokenize([question])[0]
        if not query:
            return np.zeros(self.size, dtype=np.float32), 0.0
        vocab = self._retriever.vocab_dict
        bound = float(sum(self._term_max[vocab[t]] for t in query if t in vocab))
        return np.asarray(self._retriever.get_scores(query), dtype=np.float32)[: self.size], bound

    def query(self, question: str) -> ScoredQuery:
        return ScoredQuery(*self.scores(question))
