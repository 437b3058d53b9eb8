"""Within a passage, the sentence(s) that answer the question: semantic + lexical scoring."""

from __future__ import annotations

import numpy as np

from index.lexical import tokenize
from ingest.records import Passage, Span

SEMANTIC_WEIGHT = 0.6


def sentence_scores(
    question_vector: np.ndarray, question_terms: set[str], sentence_texts: list[str], sentence_vectors: np.ndarray
) -> np.ndarray:
    """Score each sentence: cosine to the question blended with the share of question terms it has."""
    semantic = sentence_vectors @ question_vector
    if question_terms:
        lexical = np.array([len(question_terms & set(terms)) / len(question_terms) for terms in tokenize(sentence_texts)])
    else:
        lexical = np.zeros(len(sentence_texts))
    return SEMANTIC_WEIGHT * semantic + (1 - SEMANTIC_WEIGHT) * lexical


def pick_evidence(scores: np.ndarray, sentences: tuple[Span, ...], margin: float) -> tuple[Span, ...]:
    """The best sentence, plus any other within `margin` of it, in passage order."""
    if not len(sentences):
        return ()
    best = float(scores.max())
    return tuple(s for s, score in zip(sentences, scores) if score >= best - margin)


def select_evidence(
    question_vector: np.ndarray,
    question: str,
    passages: list[Passage],
    sentence_vectors: list[np.ndarray],
    margin: float,
) -> list[tuple[Span, ...]]:
    """Evidence spans (relative to each passage's text) for each passage, from stored sentence vectors."""
    terms = set(tokenize([question])[0])
    results = []
    for passage, vectors in zip(passages, sentence_vectors):
        if len(passage.sentences) <= 1:
            results.append(passage.sentences)
            continue
        texts = [passage.text[s.start : s.end] for s in passage.sentences]
        scores = sentence_scores(question_vector, terms, texts, vectors)
        results.append(pick_evidence(scores, passage.sentences, margin))
    return results
