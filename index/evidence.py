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


def rerank_evidence(
    model,
    question: str,
    passages: list[Passage],
    bi_scores: list[np.ndarray],
    bi_weight: float,
    place_penalty: float,
    margin: float,
) -> list[tuple[Span, ...]]:
    """Evidence read by the cross-encoder: each sentence's logit (one batch for all passages) plus
    `bi_weight` x 10 x its bi-encoder score, less `place_penalty` per country it names that the
    question does not (when the question names one). Chosen by eval/studies/rerank_study.py."""
    from index.places import other_places

    texts = [[p.text[s.start : s.end] for s in p.sentences] for p in passages]
    flat = [t for group in texts for t in group]
    logits = model.score(question, flat) if flat else np.zeros(0, dtype=np.float32)
    results, start = [], 0
    for passage, group, bi in zip(passages, texts, bi_scores, strict=True):
        ce = logits[start : start + len(group)]
        start += len(group)
        places = np.array([other_places(question, t) for t in group], dtype=np.float64)
        scores = ce + bi_weight * 10 * np.asarray(bi, dtype=np.float64) - place_penalty * places
        results.append(pick_evidence(scores, passage.sentences, margin) if len(group) > 1 else passage.sentences)
    return results
