"""Within a passage, the sentence(s) that answer the question: semantic + lexical scoring."""

from __future__ import annotations

import numpy as np

from index.answerability import count_focus, counts
from index.lexical import tokenize
from ingest.records import Passage, Span

SEMANTIC_WEIGHT = 0.6
# Added to the score of a sentence that counts what a "how many" question asks for (a number right before
# the counted noun), on the sentence-score scale (x 10 beside cross-encoder logits): neutral on gold, SQuAD
# and near-topic evidence, and it tells "77,000 people" from a comparison with another country
# (eval/studies/answer_study.py evidence; README "Quality").
COUNT_BONUS = 0.4


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


def count_bonus(question: str, sentence_texts: list[str]) -> np.ndarray:
    """COUNT_BONUS for each sentence that counts the focus of a "how many" question, else 0."""
    focus = count_focus(question)
    if focus is None:
        return np.zeros(len(sentence_texts))
    return np.array([COUNT_BONUS * counts(t, focus) for t in sentence_texts])


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
        scores = sentence_scores(question_vector, terms, texts, vectors) + count_bonus(question, texts)
        results.append(pick_evidence(scores, passage.sentences, margin))
    return results


def rerank_evidence(
    question: str, passage: Passage, logits: np.ndarray, bi_scores: np.ndarray, bi_weight: float, margin: float
) -> tuple[Span, ...]:
    """Evidence read by the cross-encoder: each sentence's logit (`logits`, one per sentence) plus
    `bi_weight` x 10 x (its bi-encoder score + its count bonus), and every sentence within `margin` of the best.
    Chosen by eval/studies/answer_study.py (README "Quality")."""
    if len(passage.sentences) <= 1:
        return passage.sentences
    texts = [passage.text[s.start : s.end] for s in passage.sentences]
    bi = np.asarray(bi_scores, dtype=np.float64) + count_bonus(question, texts)
    scores = np.asarray(logits, dtype=np.float64) + bi_weight * 10 * bi
    return pick_evidence(scores, passage.sentences, margin)
