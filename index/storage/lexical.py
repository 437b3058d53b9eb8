"""BM25 over passage texts with bm25s: English stopwords, Snowball stemming, no pickle on disk."""

from __future__ import annotations

import math
import re
from functools import cached_property
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


WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s's own token pattern: the words `tokenize` sees


def stem(word: str) -> str:
    """The BM25 term of one word (no stopword check)."""
    return _STEMMER.stemWord(word.lower())


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (insertions, deletions, substitutions, swaps of neighbours),
    or `limit + 1` as soon as it is certain to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before, row = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (ca != cb))
            if before is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return row[-1]


def allowed_typos(term: str) -> int:
    """How many edits a query term may be from the index term it is read as: none for short terms (too many
    neighbours: "cat" is one edit from "car"), one up to 7 letters, two beyond."""
    return 0 if len(term) < 4 else 1 if len(term) < 8 else 2


class Vocabulary:
    """An index's terms by their character bigrams, to find the known term nearest an unknown one.

    The q-gram lemma prunes: a term within k edits of another shares at least max(len) + 1 - 3k of its
    padded bigrams (a swap of neighbours breaks three), so only terms sharing that many are measured (a few dozen, not the whole vocabulary).
    """

    def __init__(self, terms: list[str], frequency: np.ndarray) -> None:
        self.terms, self.frequency = terms, frequency
        self.lengths = np.array([len(t) for t in terms], dtype=np.int32)
        postings: dict[str, list[int]] = {}
        for i, term in enumerate(terms):
            for gram in set(self._bigrams(term)):
                postings.setdefault(gram, []).append(i)
        self.postings = {g: np.array(ids, dtype=np.int32) for g, ids in postings.items()}

    @staticmethod
    def _bigrams(term: str) -> list[str]:
        padded = f"^{term}$"
        return [padded[i : i + 2] for i in range(len(padded) - 1)]

    def nearest(self, term: str) -> str | None:
        """The known term fewest edits from `term` (within allowed_typos; ties to the most frequent), or None."""
        limit = allowed_typos(term)
        grams = [self.postings[g] for g in set(self._bigrams(term)) if g in self.postings]
        if not limit or not grams:
            return None
        shared = np.bincount(np.concatenate(grams), minlength=len(self.terms))
        close = np.abs(self.lengths - len(term)) <= limit
        need = np.maximum(self.lengths, len(term)) + 1 - 3 * limit
        best: tuple[int, int, str] | None = None
        for i in np.flatnonzero(close & (shared >= need)):
            distance = edit_distance(term, self.terms[i], limit)
            if distance <= limit and (best is None or (distance, -self.frequency[i]) < best[:2]):
                best = (distance, -int(self.frequency[i]), self.terms[i])
        return best[2] if best else None


def corrected_question(question: str, corrections: dict[str, str], texts: list[str]) -> str:
    """`question` with each word whose term was corrected replaced by a word of `texts` (passages that
    hold the corrected term) with that term: "prisn" -> "prison", as the sources spell it. A word stays
    as asked when no word of `texts` has the term, or when that word is more than a typo away from it."""
    if not corrections:
        return question
    spelled: dict[str, str] = {}
    wanted = set(corrections.values())
    for text in texts:
        for word in WORD.findall(text):
            term = stem(word)
            if term in wanted and term not in spelled:
                spelled[term] = word
        if len(spelled) == len(wanted):
            break

    def fix(match: re.Match) -> str:
        word = spelled.get(corrections.get(stem(match[0]), ""))
        limit = allowed_typos(match[0])
        # Close as written too, not only as stems: "imitate" (stem "imit") is not a typo of "limit".
        if word is None or edit_distance(match[0].lower(), word.lower(), limit) > limit:
            return match[0]
        return word.capitalize() if match[0][:1].isupper() else word.lower()  # the question's capitals

    return WORD.sub(fix, question)


def terms_text(text: str) -> str:
    """`text`'s BM25 terms joined by spaces: what a full-text engine is given, so it sees the same tokens."""
    return " ".join(tokenize([text])[0])


class LexicalQuery(Protocol):
    """One question's BM25 scores over an index version's passage rows."""

    bound: float  # the most the question's terms can score (0 when the backend cannot tell)

    def top(self, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """Rows of the (up to) `n` best-scoring passages with a positive score (among `allowed` rows, a mask)."""
        ...

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The score of each of `rows` (0 where no question term occurs)."""
        ...


class ScoredQuery:
    """A LexicalQuery over a dense array of every row's score (bm25s scores them all at once)."""

    def __init__(self, scores: np.ndarray, bound: float) -> None:
        self.scores, self.bound = scores, bound

    def top(self, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
        scores = self.scores if allowed is None else np.where(allowed, self.scores, 0.0)  # the filter's weight mask
        top = np.argpartition(-scores, n)[:n] if len(scores) > n else np.arange(len(scores))
        return np.sort(top[scores[top] > 0])

    def at(self, rows: np.ndarray) -> np.ndarray:
        return self.scores[rows]


class LexicalIndex:
    """BM25 scores of every passage row for a question."""

    def __init__(self, retriever: bm25s.BM25 | None, size: int, directory: Path | None = None) -> None:
        """`retriever`, or (None) the `directory` it is read from on first use."""
        self._given, self._directory = retriever, directory
        self.size = size

    @cached_property
    def _loaded(self) -> tuple[bm25s.BM25, np.ndarray, np.ndarray]:
        # Read on the first question that needs BM25: a question routed to the multilingual encoder alone
        # never pays for bm25s and scipy (0.3-0.6 s of a cold start). The files' checksums were checked at open.
        retriever = self._given or _bm25s().BM25.load(str(self._directory), allow_pickle=False, mmap=False)
        # The best score each term gives any passage: their sum over a question's terms bounds
        # what a passage can score, so top / bound says how fully the best passage matches.
        data, indptr = retriever.scores["data"], retriever.scores["indptr"]
        term_max = np.zeros(len(indptr) - 1, dtype=np.float32)
        nonempty = np.flatnonzero(np.diff(indptr) > 0)
        if len(nonempty):
            term_max[nonempty] = np.maximum.reduceat(data, indptr[nonempty])
        return retriever, term_max, np.diff(indptr)

    def warm(self) -> None:
        """Read the files now (a question that will need BM25 reads them while its models load)."""
        self._loaded  # noqa: B018 - the cached property's side effect

    @property
    def _retriever(self) -> bm25s.BM25:
        return self._loaded[0]

    @property
    def _term_max(self) -> np.ndarray:
        return self._loaded[1]

    @property
    def _document_frequency(self) -> np.ndarray:
        return self._loaded[2]

    @cached_property
    def vocabulary(self) -> Vocabulary:
        """The index's terms for typo correction, indexed on first use (a question with an unknown term)."""
        vocab = self._retriever.vocab_dict
        terms = sorted(vocab, key=vocab.get)
        frequency = np.array([self._document_frequency[vocab[t]] if vocab[t] < len(self._document_frequency) else 0 for t in terms])
        return Vocabulary(terms, frequency)

    def corrections(self, question: str) -> dict[str, str]:
        """Each term of `question` that no passage has, mapped to the nearest term passages do have
        (a typo: "prisn" -> "prison"); terms with no near neighbour are left out."""
        vocab = self._retriever.vocab_dict
        unknown = [t for t in dict.fromkeys(tokenize([question])[0]) if t not in vocab]
        # A number is never a typo of another number (2018 is not 2019).
        found = {t: self.vocabulary.nearest(t) for t in unknown if allowed_typos(t) and not any(c.isdigit() for c in t)}
        return {t: near for t, near in found.items() if near}

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
        return cls(None, size, directory)

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
