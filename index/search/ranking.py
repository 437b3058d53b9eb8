"""Stage 3, ranking: the cross-encoder's second stage over the head of the fused order (when asked
for), then the k passages shown, each source's best passage given its place (`diversify`)."""

from __future__ import annotations

import numpy as np

from index.config import Settings
from index.search.evidence import sentence_scores
from index.storage.lexical import tokenize
from index.models.rerank import CrossEncoder, rerank
from index.search.records import ENGLISH_ROUTE, Fused, Ranking


def diversify(order: list[int], scores: np.ndarray, files: list[tuple[str, ...]], k: int, ratio: float) -> list[int]:
    """Top k of `order`, but every source whose best candidate scores >= ratio * top gets it in.

    So when sources disagree, each one's own best passage is shown, not k passages of one source.
    """
    if not order:
        return []
    top = float(scores[order[0]])
    promoted: list[int] = []
    seen: set[str] = set()
    for i in order:
        new = [f for f in files[i] if f not in seen]
        close_enough = scores[i] >= ratio * top if top > 0 else True
        if new and close_enough:
            promoted.append(i)
        seen.update(files[i])
    chosen = promoted[:k]
    for i in order:
        if len(chosen) >= k:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen, key=lambda i: -scores[i])


def rank(question: str, fused: Fused, k: int, settings: Settings, cross_encoder: CrossEncoder | None = None) -> Ranking:
    """The stage: candidates in final order and the k shown. With `cross_encoder`, the top `rerank_top`
    fused candidates are re-scored by it (index/models/rerank.py) and rank above the rest."""
    s, c = settings, fused.candidates
    scores, reranked, head = fused.scores, None, None
    if cross_encoder is not None and len(c.rows):
        head = np.argsort(-fused.scores, kind="stable")[: s.rerank_top]
        passages = [c.passage(i) for i in head]
        terms = set(tokenize([question])[0])
        bi = [
            sentence_scores(c.question_vector, terms, [p.text[x.start : x.end] for x in p.sentences], c.index.sentence_vectors(c.rows[i]))
            for p, i in zip(passages, head, strict=True)
        ]
        reranked = rerank(
            cross_encoder, question, passages, bi, fused.scores, head, s.rerank_fused_weight, s.rerank_window_chars,
            s.rerank_text, s.rerank_passages,
        )
        scores = reranked.scores
    order = sorted(range(len(c.rows)), key=lambda i: -scores[i])
    files_of = [c.passage(i).files for i in range(len(c.rows))]
    # The diversification's ratio was set on the English models' scores; the multilingual cosines lie too close
    # together for it (every source would get a place), so that route keeps the encoder's own order.
    chosen = diversify(order, scores, files_of, k, s.diversify_ratio if c.route == ENGLISH_ROUTE else 1.0)
    if c.route == ENGLISH_ROUTE and len(c.crosslingual):
        chosen = with_foreign_passage(chosen, order, c.crosslingual, c.index.multilingual.languages, c.rows, k, s.crosslingual_margin)
    return Ranking(c, scores, order, chosen, reranked, head)


def with_foreign_passage(
    chosen: list[int], order: list[int], crosslingual: np.ndarray, languages: tuple[str, ...], rows: np.ndarray, k: int,
    margin: float,
) -> list[int]:
    """`chosen`, with the best candidate in another language than the first shown passage's in the last place when
    none is shown and the multilingual encoder finds it within `margin` (cosine) of the first shown passage: the
    English models rank a passage they cannot read below the English ones, whatever it says."""
    if not chosen:
        return chosen
    top_language = languages[rows[chosen[0]]]
    shown_languages = {languages[rows[i]] for i in chosen}
    others = [i for i in order if languages[rows[i]] not in shown_languages | {top_language, "und"}]
    if not others:
        return chosen
    best = max(others, key=lambda i: crosslingual[i])
    if crosslingual[best] < crosslingual[chosen[0]] - margin:
        return chosen
    return [*chosen[: k - 1], best] if len(chosen) >= k else [*chosen, best]
