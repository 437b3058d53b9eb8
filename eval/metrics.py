"""Pure metric functions for evaluating retrieval, evidence and abstention.

Nothing here touches files or models: callers pass plain strings, ranks and
relevance judgements, so every function is easy to test by hand.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

_QUOTE_FOLD = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
})
_WHITESPACE = re.compile(r"\s+")


# --- answer matching -------------------------------------------------------

def normalize_for_match(text: str) -> str:
    """Normalize text for answer containment: NFKC, straight quotes, single spaces, casefold."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_FOLD)
    return _WHITESPACE.sub(" ", text).strip().casefold()


def distinct_answers(answers: Sequence[str]) -> tuple[str, ...]:
    """Return the distinct normalized answers, in first-seen order, dropping empty ones.

    Empty answers are dropped because "" is a substring of every passage and
    would turn every retrieval into a hit.
    """
    seen: dict[str, None] = {}
    for answer in answers:
        norm = normalize_for_match(answer)
        if norm:
            seen.setdefault(norm, None)
    return tuple(seen)


def _contains_any(text: str, normalized_answers: Sequence[str]) -> bool:
    norm = normalize_for_match(text)
    return any(answer in norm for answer in normalized_answers)


def _source_ok(passage_sources: Sequence[str], gold_sources: Sequence[str] | None) -> bool:
    # No gold sources means the question is not tied to a document.
    if not gold_sources:
        return True
    gold = set(gold_sources)
    return any(source in gold for source in passage_sources)


def is_hit(
    passage_text: str,
    passage_sources: Sequence[str],
    answers: Sequence[str],
    gold_sources: Sequence[str] | None,
) -> bool:
    """True when the passage contains an answer and, if gold sources are given, comes from one."""
    return _source_ok(passage_sources, gold_sources) and _contains_any(
        passage_text, distinct_answers(answers)
    )


def evidence_correct(evidence_text: str, answers: Sequence[str]) -> bool:
    """True when the (normalized) evidence text contains any (normalized) gold answer."""
    return _contains_any(evidence_text, distinct_answers(answers))


def answers_found(
    passages: Sequence[tuple[str, Sequence[str]]],
    answers: Sequence[str],
    gold_sources: Sequence[str] | None,
    k: int,
) -> int:
    """Count distinct normalized answers contained in the top-k (text, sources) passages.

    Pair with ``len(distinct_answers(answers))`` as the per-question total.
    """
    _check_k(k)
    wanted = distinct_answers(answers)
    found: set[str] = set()
    for text, sources in passages[:k]:
        if not _source_ok(sources, gold_sources):
            continue
        norm = normalize_for_match(text)
        found.update(answer for answer in wanted if answer in norm)
    return len(found)


def coverage(values: Sequence[tuple[int, int]]) -> float:
    """Mean of found/total over questions given as (found, total) pairs; empty -> 0.0."""
    if not values:
        return 0.0
    total_fraction = 0.0
    for found, total in values:
        if total <= 0 or not 0 <= found <= total:
            raise ValueError(f"invalid (found, total) pair: {(found, total)}")
        total_fraction += found / total
    return total_fraction / len(values)


# --- ranking over questions ------------------------------------------------

def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def first_hit_rank(hits: Sequence[bool]) -> int | None:
    """1-based rank of the first hit, or None when there is none."""
    for index, hit in enumerate(hits):
        if hit:
            return index + 1
    return None


def hit_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Fraction of questions whose first hit is at rank <= k; empty -> 0.0."""
    _check_k(k)
    if not ranks:
        return 0.0
    return sum(1 for rank in ranks if rank is not None and rank <= k) / len(ranks)


def mrr_at_k(ranks: Sequence[int | None], k: int = 10) -> float:
    """Mean reciprocal rank, counting ranks beyond k (or None) as 0; empty -> 0.0."""
    _check_k(k)
    if not ranks:
        return 0.0
    return sum(1.0 / rank for rank in ranks if rank is not None and rank <= k) / len(ranks)


# --- abstention ------------------------------------------------------------

@dataclass(frozen=True)
class AbstentionScores:
    """Precision/recall/F1 where the positive class is "abstain"."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


def abstention_scores(
    predicted_abstain: Sequence[bool], should_abstain: Sequence[bool]
) -> AbstentionScores:
    """Score abstentions (positive = abstain).

    Zero-denominator conventions: precision with no predicted abstentions is
    1.0 if no abstention was missed (fn == 0) else 0.0; recall with no expected
    abstentions is 1.0 if none was wrongly made (fp == 0) else 0.0. So a system
    that never abstains on a set that never needs it scores 1.0, not 0.0.
    F1 is 0.0 when precision and recall are both 0.
    """
    if len(predicted_abstain) != len(should_abstain):
        raise ValueError(
            f"length mismatch: {len(predicted_abstain)} predictions, {len(should_abstain)} labels"
        )
    pairs = list(zip(predicted_abstain, should_abstain))
    tp = sum(1 for pred, gold in pairs if pred and gold)
    fp = sum(1 for pred, gold in pairs if pred and not gold)
    fn = sum(1 for pred, gold in pairs if not pred and gold)
    precision = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    recall = tp / (tp + fn) if tp + fn else (1.0 if fp == 0 else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return AbstentionScores(precision, recall, f1, tp, fp, fn)


# --- summary statistics ----------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """p-th percentile (0-100) with linear interpolation, as numpy's default; empty -> 0.0."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {p}")
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


# --- BEIR-style document ranking -------------------------------------------
# Rankings here are over documents, but a retriever returns passages, so one
# document may appear several times. Only its first (best) occurrence counts,
# and k applies to the deduplicated list: otherwise duplicates would either
# earn gain twice (nDCG > 1) or crowd other documents out of the top k.

def _dedupe(ranked_doc_ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ranked_doc_ids))


def ndcg_at_k(ranked_doc_ids: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with gain = relevance grade and discount log2(rank + 1).

    Duplicate ids are collapsed to their first occurrence before cutting at k.
    The ideal DCG uses the qrels' positive grades sorted descending; returns
    0.0 when the query has no document with grade > 0.
    """
    _check_k(k)
    ideal_grades = sorted((grade for grade in qrels.values() if grade > 0), reverse=True)[:k]
    if not ideal_grades:
        return 0.0
    dcg = sum(
        max(qrels.get(doc_id, 0), 0) / math.log2(rank + 1)
        for rank, doc_id in enumerate(_dedupe(ranked_doc_ids)[:k], start=1)
    )
    idcg = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal_grades, start=1))
    return dcg / idcg


def recall_at_k(ranked_doc_ids: Sequence[str], qrels: Mapping[str, int], k: int = 100) -> float:
    """Fraction of documents with grade > 0 found in the top k distinct ids; 0.0 if none exist."""
    _check_k(k)
    relevant = {doc_id for doc_id, grade in qrels.items() if grade > 0}
    if not relevant:
        return 0.0
    retrieved = set(_dedupe(ranked_doc_ids)[:k])
    return len(relevant & retrieved) / len(relevant)


def normalize_answer(text: str) -> str:
    """SQuAD's official answer normalization: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCTUATION = frozenset(string.punctuation)


def _token_f1(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return float(not p and not g)
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def span_scores(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(exact match, token F1) of an answer span against the best of the gold answers, as SQuAD scores them."""
    if not golds:
        raise ValueError("span_scores needs at least one gold answer")
    em = max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds)
    return em, max(_token_f1(prediction, g) for g in golds)


def roc_auc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """Area under the ROC curve: the chance a positive scores above a negative (ties count half)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        raise ValueError("roc_auc needs positives and negatives")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks over ties (Mann-Whitney U).
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2
    ranks[order] = np.repeat(average, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sources_say_correct(lines: Sequence[tuple[str, str]], expected: Sequence[tuple[str, Sequence[str]]]) -> bool:
    """Whether the per-source lines (source file, span) are what a gold question expects: none when it
    expects none; else at least two of the expected sources, no other source, and each line's span
    holding one of its source's values."""
    wanted = {file: [normalize_for_match(v) for v in values] for file, values in expected}
    if not wanted:
        return not lines
    files = {file for file, _ in lines}
    return (
        len(files & wanted.keys()) >= 2
        and files <= wanted.keys()
        and all(any(v in normalize_for_match(text) for v in wanted[file]) for file, text in lines)
    )


def span_answers(span: str, answers: Sequence[str]) -> bool:
    """Whether a shown span answers: it matches a gold answer as SQuAD scores it (token F1 >= 0.5), or holds
    it whole ("2 percent of El Salvador's entire population" holds "2 percent").
    A span whose figures are all other than the answer's never answers. No answers: never."""
    golds = [a for a in answers if a.strip()]
    if not golds or not span.strip():
        return False
    text = f" {normalize_answer(span)} "
    shown = _figures(span)
    return any(
        # Another figure never answers: "$314 million" shares half its words with "$70 million". A part of the
        # answer does ("Treaty of Rome 1957" of "… 1957 and the Maastricht Treaty 1992").
        not (shown and _figures(g) and not shown & _figures(g))
        and (_token_f1(span, g) >= 0.5 or (normalize_answer(g) and f" {normalize_answer(g)} " in text))
        for g in golds
    )


def _figures(text: str) -> set[str]:
    """The numbers written in `text` ("119000" for "119,000", "1.9" for "1.9%", "101" and "1" for "101(1)")."""
    return {m.replace(",", "") for m in re.findall(r"\d+(?:[.,]\d+)*", text)}


def line_answers(file: str, span: str, answers: Sequence[str], says: Sequence[tuple[str, Sequence[str]]] | None) -> bool:
    """Whether a source's line ("what each source says") answers: its span holds that source's own value
    when the gold question names one per source, else one of the question's answers."""
    own = dict(says or ())
    return span_answers(span, own[file]) if own.get(file) else span_answers(span, answers)
