"""Within a passage, the sentence(s) that answer the question: semantic + lexical scoring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.search.answerability import count_focus, counts
from index.storage.lexical import tokenize
from ingest.records import Passage, Span

SEMANTIC_WEIGHT = 0.6
# Added to the score of a sentence that counts what a "how many" question asks for (a number right before
# the counted noun), on the sentence-score scale (x 10 beside cross-encoder logits): neutral on gold, SQuAD
# and near-topic evidence, and it tells "77,000 people" from a comparison with another country
# (eval/studies/answer_study.py evidence; README "Quality").
COUNT_BONUS = 0.4
# A table row ("Label: value | Label: value", as ingest writes the rows of Markdown, HTML, DOCX and slide
# tables and of spreadsheets) is one record: it is highlighted whole or not at all. Rows of one table read
# alike, so the margin that lets a second prose sentence in would let most rows in (10 of 15 for "Who is the
# mayor of City137?"): rows are let in within this share of it. A question term that some rows hold and
# others do not (the "City137" of the question, not the "Mayor" label every row has) picks its rows outright.
ROW_MARGIN_SHARE = 1 / 6
ROW_SEPARATOR = " | "


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


@dataclass(frozen=True)
class Unit:
    """What is highlighted whole: a prose sentence, or a table row (the sentences of one row line)."""

    span: Span
    members: tuple[int, ...]  # indices into the passage's sentences
    row: bool


def units(passage: Passage) -> list[Unit]:
    """The passage's sentences, those of one table-row line joined into one unit, in passage order."""
    text, out = passage.text, []
    for i, s in enumerate(passage.sentences):
        start, end = text.rfind("\n", 0, s.start) + 1, text.find("\n", s.end)
        line = text[start : end if end != -1 else len(text)]
        row = ROW_SEPARATOR in line and "\n" not in text[s.start : s.end]
        if row and out and out[-1].row and text.rfind("\n", 0, out[-1].span.start) + 1 == start:
            last = out.pop()  # another sentence of the same row (a cell that holds a full stop)
            out.append(Unit(Span(last.span.start, s.end), (*last.members, i), True))
        else:
            out.append(Unit(s, (i,), row))
    return out


def key_rows(question: str, passage: Passage, found: list[Unit]) -> set[int]:
    """Positions in `found` of the rows holding the most question terms that some rows hold and others do not."""
    rows = [n for n, u in enumerate(found) if u.row]
    if len(rows) < 2:
        return set()
    terms = set(tokenize([question])[0])
    held = {n: terms & set(t) for n, t in zip(rows, tokenize([passage.text[found[n].span.start : found[n].span.end] for n in rows]))}
    everywhere = set.intersection(*held.values())
    keys = {n: len(held[n] - everywhere) for n in rows}
    most = max(keys.values())
    return {n for n, count in keys.items() if count == most} if most else set()


def pick_units(question: str, passage: Passage, scores: np.ndarray, margin: float) -> tuple[Span, ...]:
    """Evidence from per-sentence `scores`. Key rows (key_rows), when the question names some, are the
    evidence: those within `margin` of the best of them. Otherwise the best unit, with each prose sentence
    within `margin` of it, or within ROW_MARGIN_SHARE of it for a row or when a row is best."""
    found = units(passage)
    if not any(u.row for u in found):
        return pick_evidence(scores, passage.sentences, margin)
    unit_scores = np.array([max(scores[i] for i in u.members) for u in found])
    keys = key_rows(question, passage, found)
    if keys:
        best = max(unit_scores[n] for n in keys)
        return tuple(found[n].span for n in sorted(keys) if unit_scores[n] >= best - margin)
    best = int(np.argmax(unit_scores))
    tight = margin * ROW_MARGIN_SHARE
    widths = [margin if not (u.row or found[best].row) else tight for u in found]
    return tuple(u.span for u, score, width in zip(found, unit_scores, widths) if score >= unit_scores[best] - width)


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
        results.append(pick_units(question, passage, scores, margin))
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
    return pick_units(question, passage, scores, margin)
