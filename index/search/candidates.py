"""Stage 1, candidates: the passages worth ranking for a question, with both retrievers' exact scores."""

from __future__ import annotations

import numpy as np

from index.models.embed import Embedder
from index.models.query_encoder import TextEncoder
from index.search.records import MULTILINGUAL_ROUTE, Candidates
from index.storage.dense import DenseIndex
from index.storage.lexical import WORD, corrected_question, stem
from index.storage.store import IndexVersion

SPELLING_PROBE = 20  # passages read for how the sources spell a corrected term


def best_sentence(index: IndexVersion, rows: np.ndarray, question_vector: np.ndarray) -> np.ndarray:
    """For each row, the highest cosine between the question and one of the passage's sentences."""
    if not len(rows):
        return np.zeros(0, dtype=np.float32)
    starts, ends = index.sentence_rows[rows], index.sentence_rows[rows + 1]
    picked = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
    sims = index.sentence_matrix[picked].astype(np.float32) @ question_vector
    offsets = np.concatenate([[0], np.cumsum(ends - starts)[:-1]])
    return np.maximum.reduceat(sims, offsets)


def rows_of_files(index: IndexVersion, files: list[str], allowed: np.ndarray | None = None) -> np.ndarray:
    """Rows of every passage of `files` (that the `allowed` mask lets through, when given), in row order."""
    wanted = set(files)
    chosen = np.array([bool(wanted & set(p.files)) for p in index.passages], dtype=bool)
    return np.flatnonzero(chosen & allowed if allowed is not None else chosen).astype(np.int64)


def dense_rows(index: IndexVersion, question_vector: np.ndarray, n: int, allowed: np.ndarray | None, exact_below: int) -> set[int]:
    """Rows of the dense top `n`, among the `allowed` rows when given (searched among them, not filtered after).

    With an approximate (HNSW) store, a filter that lets at most `exact_below` passages through has them
    scored exactly, as an index of that size would be; a wider one searches the graph with the filter,
    looking wider by as much as the filter narrows (a graph walk skips the passages it may not return).
    """
    if allowed is None:
        ids, _ = index.dense.search(question_vector, n)
    else:
        count = int(allowed.sum())
        if count == 0:
            return set()
        if index.dense.approximate and count <= exact_below and isinstance(index.dense, DenseIndex):
            ids, _ = index.dense.search(question_vector, n, allowed, exact=True)
        else:
            ids, _ = index.dense.search(question_vector, n, allowed)
    return {index.row_of_id[int(i)] for i in ids}


def find_candidates(
    index: IndexVersion, encoder: Embedder | TextEncoder, question: str, files: list[str] | None, n: int,
    multilingual: TextEncoder | None = None, foreign: int = 0,
    allowed: np.ndarray | None = None, exact_below: int = 50_000,
) -> Candidates:
    """The union of the dense and the lexical top `n` (every passage of `files` when given), scored by both.

    `allowed` (a boolean mask over passage rows: a metadata filter's) restricts both retrievers before
    they rank, so the top `n` are the best passages the filter lets through.

    A question term no passage has is read as the nearest term passages do have (a typo: "prisn" is
    "prison"), and both retrievers get the question so spelled; words the index knows are never changed.
    With `multilingual` (the encoder of the index's multilingual part), the `foreign` passages in other languages
    than English nearest the question by it join the candidates, and every candidate gets its multilingual cosine:
    the English models do not find a Spanish passage for an English question.
    """
    question = spelled_question(index, question, encoder)
    question_vector = encoder.encode([question])[0]
    lexical_query = index.lexical.query(question)
    part = index.multilingual if multilingual is not None else None
    across = multilingual.encode([question])[0] if part is not None else None
    if files:
        rows = rows_of_files(index, files, allowed)
    else:
        found = dense_rows(index, question_vector, n, allowed, exact_below)
        lexical_rows = {int(r) for r in lexical_query.top(n, allowed)}
        foreign_rows: set[int] = set()
        if part is not None:
            among = part.foreign_rows if allowed is None else part.foreign_rows[allowed[part.foreign_rows]]
            foreign_rows = {int(r) for r in part.search(across, foreign, among)[0]} if len(among) else set()
        rows = np.array(sorted(found | lexical_rows | foreign_rows), dtype=np.int64)
    dense = index.vectors[rows] @ question_vector if len(rows) else np.zeros(0, dtype=np.float32)
    lexical = lexical_query.at(rows) if len(rows) else np.zeros(0, dtype=np.float32)
    bound = lexical_query.bound
    confidence = float(lexical.max()) / bound if bound > 0 and len(rows) else 0.0
    crosslingual = part.scores(across, rows) if part is not None else np.zeros(0, dtype=np.float32)
    return Candidates(
        index, question_vector, rows, dense, lexical, best_sentence(index, rows, question_vector), confidence,
        crosslingual=crosslingual,
    )


def multilingual_candidates(
    index: IndexVersion, encoder: Embedder | TextEncoder, multilingual: TextEncoder, question: str, language: str,
    files: list[str] | None, n: int, allowed: np.ndarray | None = None,
) -> Candidates:
    """The multilingual route: the top `n` passages by the multilingual encoder's cosine alone (every passage of
    `files` when given; among those the `allowed` mask lets through, when given), whatever their language. BM25 is left out: it hands rank 1 to a passage that shares the
    question's names and cognates (docs/crosslingual.md). The question is encoded by the index's own encoder too,
    for the highlight, which reads that encoder's sentence vectors."""
    part = index.multilingual
    across = multilingual.encode([question])[0]
    if files:
        rows = rows_of_files(index, files, allowed)
    elif allowed is not None:
        among = np.flatnonzero(allowed).astype(np.int64)
        rows = np.sort(part.search(across, n, among)[0]) if len(among) else np.zeros(0, dtype=np.int64)
    else:
        rows = np.sort(part.search(across, n)[0])
    scores = part.scores(across, rows)
    question_vector = encoder.encode([question])[0]
    return Candidates(
        index, question_vector, rows, scores, np.zeros(len(rows), dtype=np.float32), best_sentence(index, rows, question_vector),
        route=MULTILINGUAL_ROUTE, language=language, crosslingual=scores,
    )


def spelled_question(index: IndexVersion, question: str, encoder: Embedder | TextEncoder | None = None) -> str:
    """`question` with its unknown words spelled as the sources spell their nearest known term, or as
    it is (no unknown word, or a lexical backend without a vocabulary, such as Milvus full text).

    A word the encoder's vocabulary holds whole ("locked", "imitate") is English the sources happen not
    to use, not a typo: it is never respelled (a small collection lacks most words).
    """
    correct = getattr(index.lexical, "corrections", None)
    corrections = correct(question) if correct is not None else {}
    count_tokens = getattr(encoder, "count_tokens", None)
    if corrections and count_tokens is not None:
        words = [w for w in WORD.findall(question) if stem(w) in corrections]
        whole = {stem(w) for w, n in zip(words, count_tokens([w.lower() for w in words]), strict=True) if n == 1}
        corrections = {term: near for term, near in corrections.items() if term not in whole}
    if not corrections:
        return question
    probe = index.lexical.query(" ".join(corrections.values())).top(SPELLING_PROBE)
    return corrected_question(question, corrections, [index.passages[int(r)].text for r in probe])
