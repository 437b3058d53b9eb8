"""BM25 over passage texts with bm25s: English stopwords, Snowball stemming, no pickle on disk."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import Stemmer

_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stopword-free, stemmed tokens; the same for passages and questions."""
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


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

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        retriever = bm25s.BM25()
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
        retriever = bm25s.BM25.load(str(directory), allow_pickle=False, mmap=False)
        return cls(retriever, size)

    def scores(self, question: str) -> tuple[np.ndarray, float]:
        """BM25 score of each passage row (0 where no question term occurs), and the score bound."""
        query = tokenize([question])[0]
        if not query:
            return np.zeros(self.size, dtype=np.float32), 0.0
        vocab = self._retriever.vocab_dict
        bound = float(sum(self._term_max[vocab[t]] for t in query if t in vocab))
        return np.asarray(self._retriever.get_scores(query), dtype=np.float32)[: self.size], bound
