"""Ranking, answerability and evidence studied on cached cross-encoder scores (eval/studies/ce_features.py).

    python -m eval.studies.answer_study rank        # N, text read and combination: gold, SQuAD (fit/held), TREC
    python -m eval.studies.answer_study fit         # answerability: fit on the fit split, report the held one
    python -m eval.studies.answer_study evidence    # which sentence to highlight

Nothing here calls a model: every logit was cached by `ce_features collect`. The split is by document
(see ce_features). `fit` reports each feature set fitted on SQuAD's fit split alone (gold held out
whole) and fitted with gold too, gold then as 5-fold out-of-fold figures. The shipped decision now also
reads the trained reader's margins and is fitted by `python -m eval.studies.decide_study ship` on signals
the search itself computed.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from eval import metrics
from eval.studies.ce_features import load, load_with_sentences
from index.search.answerability import expected_type, has_type, missing_rarest, rare_term_coverage, unknown_share
from index.storage.lexical import tokenize


def _sigmoid(x):
    return 1 / (1 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -30, 30)))


@dataclass(frozen=True)
class RankConfig:
    """How the head is re-scored: N candidates, the text read ('w' window, 'p' passage, 'max' both), the
    blend; with 'max', only the first `passages` of the head (in fused order) are read whole too."""

    n: int = 10
    unit: str = "w"
    fused_weight: float = 0.2
    passages: int = 10

    def logit(self, c: dict, position: int) -> float:
        """The logit of candidate `c`, the `position`-th of the fused order."""
        if self.unit == "w":
            return c["ce_w"]
        if self.unit == "p":
            return c.get("ce_p", c["ce_w"])
        return max(c["ce_w"], c.get("ce_p", c["ce_w"])) if position < self.passages else c["ce_w"]

    def order(self, cands: list[dict]) -> list[int]:
        n = min(self.n, len(cands))
        score = [(1 - self.fused_weight) * _sigmoid(self.logit(c, i)) + self.fused_weight * c["fused"] for i, c in enumerate(cands[:n])]
        return sorted(range(n), key=lambda i: -score[i]) + list(range(n, len(cands)))


def text_of(passages: dict, c: dict, unit: str = "p", sentence: int | None = None) -> str:
    p = passages[c["key"]]
    text, spans = p["text"], p["sentences"]
    if sentence is not None:
        a, b = spans[sentence]
        return text[a:b]
    if unit == "w" and spans:
        first, last = c["window"]
        return text[spans[first][0] : spans[last][1]]
    return text


def rank_metrics(records: list[dict], passages: dict, config: RankConfig) -> dict[str, float]:
    ranks, ndcgs = [], []
    for r in records:
        order = config.order(r["candidates"])
        cands = [r["candidates"][i] for i in order]
        if "qrels" in r:
            ndcgs.append(metrics.ndcg_at_k([c["doc"] for c in cands], r["qrels"], 10))
        elif r["answerable"] and r["answers"]:
            hits = [metrics.is_hit(text_of(passages, c), c["files"], r["answers"], r["sources"]) for c in cands]
            ranks.append(metrics.first_hit_rank(hits))
    if ndcgs:
        return {"ndcg@10": float(np.mean(ndcgs)), "n": len(ndcgs)}
    return {"hit@1": metrics.hit_at_k(ranks, 1), "hit@5": metrics.hit_at_k(ranks, 5), "mrr": metrics.mrr_at_k(ranks, 10), "n": len(ranks)}


def rank_report(configs: list[RankConfig]) -> None:
    sets = {}
    gold, gp = load("gold")
    sets["gold"] = ([r for r in gold if r["group"] == "gold answerable"], gp)
    squad, sp = load("squad")
    for split in ("fit", "held"):
        if any(r["split"] == split for r in squad):  # the cache may hold one split only
            sets[f"squad {split}"] = ([r for r in squad if r["split"] == split], sp)
    try:
        sets["trec"] = load("trec")
    except FileNotFoundError:
        pass
    names = list(sets)
    header = [f"{n} {m}" for n in names for m in (["ndcg@10"] if n == "trec" else ["hit@1", "hit@5", "mrr"])]
    print("| N | text | fused weight | " + " | ".join(header) + " |")
    print("|---|---|---|" + "---|" * len(header))
    for config in configs:
        cells = []
        for n in names:
            values = rank_metrics(*sets[n], config)
            cells += [f"{values[m]:.3f}" for m in (["ndcg@10"] if n == "trec" else ["hit@1", "hit@5", "mrr"])]
        unit = f"max ({config.passages} whole)" if config.unit == "max" and config.passages < config.n else config.unit
        print(f"| {config.n} | {unit} | {config.fused_weight:g} | " + " | ".join(cells) + " |")


# --- answerability -------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _lexical(index_dir: str):
    from index.storage.store import load_version

    return load_version(Path(index_dir)).lexical


def question_features(r: dict, passages: dict, config: RankConfig) -> dict[str, float]:
    """The signals a decision can read after reranking with `config` (what index/search.py computes)."""
    cands = r["candidates"]
    order = config.order(cands)
    head = [cands[i] for i in order[: config.n]]
    logits = sorted((config.logit(cands[i], i) for i in order[: config.n]), reverse=True)
    top = head[0]
    index_dir = top["key"].rsplit("/", 1)[0]
    lexical = _lexical(index_dir)
    terms = tokenize([r["question"]])[0]
    idf = lexical.idf(terms)
    unknown_idf = lexical.idf(["\u2400"])["\u2400"]
    passage_text = text_of(passages, top)
    window_text = text_of(passages, top, "w")
    passage_terms = set(tokenize([passage_text])[0])
    kind = expected_type(r["question"])
    features = {
        "ce_top": logits[0],
        "ce_margin": logits[0] - logits[1] if len(logits) > 1 else 0.0,
        "ce_window_top": max(c["ce_w"] for c in head),
        "ce_passage_top": max(c.get("ce_p", -20.0) for c in head),
        "best_sentence": r["max_best_sentence"],
        "lexical_confidence": r["lexical_confidence"],
        "rare_coverage": rare_term_coverage(terms, passage_terms, idf),
        "window_coverage": rare_term_coverage(terms, set(tokenize([window_text])[0]), idf),
        "unknown_terms": unknown_share(terms, idf, unknown_idf),
        "missing_top_idf": missing_rarest(terms, passage_terms, idf, unknown_idf),
        "type_asked": float(kind is not None),
        "type_missing": float(kind is not None and not has_type(window_text, kind, r["question"])),
        "head_mean_sigmoid": float(np.mean(_sigmoid(logits[:5]))),
    }
    if "ce_s" in top or not passages[top["key"]]["sentences"]:  # as index/search.py answer_signals
        if top.get("ce_s"):
            best = int(np.argmax(top["ce_s"]))
            features["ce_sentence_top"] = top["ce_s"][best]
            sentence = text_of(passages, top, sentence=best)
        else:
            features["ce_sentence_top"], sentence = logits[0], window_text
        features["sentence_type_missing"] = float(kind is not None and not has_type(sentence, kind, r["question"]))
        features["sentence_coverage"] = rare_term_coverage(terms, set(tokenize([sentence])[0]), idf)
    return features


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 0.01, steps: int = 100) -> tuple[np.ndarray, float]:
    """Weighted L2-regularized logistic regression by Newton's method (features already standardized)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = np.full(len(w), l2)
    reg[-1] = 0.0
    for _ in range(steps):
        p = _sigmoid(xb @ w)
        grad = xb.T @ (weight * (p - y)) / weight.sum() + reg * w
        hess = (xb * (weight * p * (1 - p))[:, None]).T @ xb / weight.sum() + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w[:-1], float(w[-1])


def fit_standardized(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 0.01):
    """fit_logistic on features standardized here: (mean, scale, weights, bias, P(answerable) of each row)."""
    mean, scale = x.mean(0), x.std(0) + 1e-9
    w, b = fit_logistic((x - mean) / scale, y, weight, l2)
    return mean, scale, w, b, _sigmoid(((x - mean) / scale) @ w + b)


def auc(score, y) -> float:
    from scipy.stats import rankdata

    score, y = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    ranks = rankdata(score)  # ties share their mean rank
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / max(1, n1 * n0))


def all_rows(config: RankConfig) -> list[dict]:
    rows = []
    for name in ("gold", "nt", "offcorpus", "squad"):
        try:
            records, passages = load_with_sentences(name)
        except FileNotFoundError:
            continue
        for r in records:
            rows.append({"set": name, "group": r["group"], "split": r["split"], "id": r["id"], "question": r["question"],
                         "answerable": r["answerable"], "f": question_features(r, passages, config)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("rank", "fit", "evidence"))
    args = parser.parse_args(argv)
    if args.action == "evidence":
        evidence_report(SHIPPED)
    if args.action == "fit":
        for config in (RankConfig(10, "w", 0.2), RankConfig(10, "max", 0.0), SHIPPED):
            fit_report(config, {"base": BASE_FEATURES, "base+sentence": BASE_FEATURES + SENTENCE_FEATURES})
    if args.action == "rank":
        configs = [RankConfig(0, "w", 1.0)]
        for n in (10, 15, 20):
            for unit in ("w", "p", "max"):
                for w in (0.0, 0.2):
                    configs.append(RankConfig(n, unit, w))
        configs += [RankConfig(10, "max", 0.0, k) for k in (1, 2, 3, 5)]
        rank_report(configs)
    return 0


# --- evidence ------------------------------------------------------------------------------------


def choose(passages: dict, c: dict, question: str, how: str, margin: float, bonus: bool = True) -> str:
    """The highlighted text of candidate `c`: sentences within `margin` of the best by `how` ("bi": the
    sentence score, as select_evidence; "ce": the cross-encoder logit + 10 x it, as rerank_evidence)."""
    from index.search.evidence import count_bonus

    p = passages[c["key"]]
    texts = [p["text"][a:b] for a, b in p["sentences"]]
    if len(texts) <= 1:
        return p["text"]
    bi = np.asarray(c["bi"], dtype=np.float64) + (count_bonus(question, texts) if bonus else 0.0)
    score = bi if how == "bi" else np.asarray(c["ce_s"], dtype=np.float64) + 10 * bi
    return " ".join(t for t, v in zip(texts, score) if v >= score.max() - margin)


def evidence_accuracy(records: list[dict], passages: dict, config: RankConfig, margin: float, bonus: bool = True, k: int = 10) -> tuple[float, int, float]:
    """As `verbatim eval` counts it: the first of the top k holding an answer; its evidence holds it?
    The first hit is read by the cross-encoder (margin `margin`), later ones by the sentence score (0.1).
    Returns accuracy, questions, mean characters highlighted."""
    right = total = shown = 0
    for r in records:
        if not (r["answerable"] and r["answers"]) or "qrels" in r:
            continue
        for rank, i in enumerate(config.order(r["candidates"])[:k]):
            c = r["candidates"][i]
            if metrics.is_hit(text_of(passages, c), c["files"], r["answers"], r["sources"]):
                if rank == 0 and c.get("ce_s"):
                    text = choose(passages, c, r["question"], "ce", margin, bonus)
                else:
                    text = choose(passages, c, r["question"], "bi", 0.1, bonus)
                total += 1
                right += metrics.evidence_correct(text, r["answers"])
                shown += len(text)
                break
    return right / max(1, total), total, shown / max(1, total)


def evidence_report(config: RankConfig) -> None:
    sets = {}
    gold, gp = load_with_sentences("gold")
    sets["gold"] = ([r for r in gold if r["answerable"]], gp)
    squad, sp = load_with_sentences("squad")
    sets["SQuAD"] = (squad, sp)
    nt, ntp = load_with_sentences("nt")
    sets["SQuAD near-topic sets, answerable"] = ([r for r in nt if r["answerable"]], ntp)
    print(f"Evidence accuracy (questions, mean characters highlighted), ranking {config}")
    print("| top hit read by | margin | count bonus | " + " | ".join(sets) + " |")
    print("|---|---|---|" + "---|" * len(sets))
    for margin in (0.0, 2.0, 4.0, 6.0):
        for bonus in (False, True):
            cells = [evidence_accuracy(*sets[n], config, margin, bonus) for n in sets]
            print(f"| CE + 10 x sentence score | {margin:g} | {'yes' if bonus else 'no'} | "
                  + " | ".join(f"{a:.3f} ({t}, {chars:.0f} ch)" for a, t, chars in cells) + " |")


# --- answerability fit ---------------------------------------------------------------------------

BASE_FEATURES = (
    "ce_top", "ce_margin", "best_sentence", "lexical_confidence", "rare_coverage", "type_asked", "type_missing",
    "window_coverage", "unknown_terms", "missing_top_idf",
)
SENTENCE_FEATURES = ("ce_sentence_top", "sentence_type_missing", "sentence_coverage")
GOLD_MIN_ANSWERED = 0.96  # of gold answerables, when gold is fitted (target 0.95)
MIN_ANSWERED = 0.92  # of each answerable fit group (target: 0.90 of SQuAD questions with their paragraph present)


def _group_name(row: dict) -> str:
    return row["group"].rsplit(" s", 1)[0] if row["set"] == "nt" else row["group"]


def fit_decision(rows: list[dict], features: tuple[str, ...], l2: float = 0.01, gold: list[dict] = ()):
    """Logistic regression on the SQuAD fit split (and the `gold` rows given), each group weighing the
    same; threshold: the highest that keeps MIN_ANSWERED of every answerable fit group answered (gold's:
    GOLD_MIN_ANSWERED). Returns (mean, scale, w, b, threshold)."""
    fit = [r for r in rows if r["split"] == "fit" and r["set"] != "gold" and all(f in r["f"] for f in features)] + list(gold)
    x = np.array([[r["f"][f] for f in features] for r in fit])
    y = np.array([float(r["answerable"]) for r in fit])
    sizes = {}
    for r in fit:
        sizes[_group_name(r)] = sizes.get(_group_name(r), 0) + 1
    weight = np.array([1.0 / sizes[_group_name(r)] for r in fit])
    mean, scale, w, b, p = fit_standardized(x, y, weight, l2)
    threshold = min(
        float(np.quantile(p[[_group_name(r) == g for r in fit]], 1 - (GOLD_MIN_ANSWERED if g.startswith("gold") else MIN_ANSWERED)))
        for g in sizes
        if any(r["answerable"] for r in fit if _group_name(r) == g)
    )
    return mean, scale, w, b, threshold


def decision_report(rows: list[dict], features, mean, scale, w, b, threshold) -> dict[str, float]:
    """Share answered (answerable groups) or abstained (the others) per held-out group, and gold F1."""
    out: dict[str, list] = {}
    gold_pred, gold_should = [], []
    for r in rows:
        if r["split"] != "held" or not all(f in r["f"] for f in features):
            continue
        p = float(_sigmoid((np.array([r["f"][f] for f in features]) - mean) / scale @ w + b))
        answers = p >= threshold
        out.setdefault(f"{r['set']}: {_group_name(r)}", []).append(answers == r["answerable"])
        if r["set"] == "gold":
            gold_pred.append(not answers)
            gold_should.append(not r["answerable"])
    report = {k: float(np.mean(v)) for k, v in sorted(out.items())}
    scores = metrics.abstention_scores(gold_pred, gold_should)
    report["gold abstain_f1"] = scores.f1
    return report


def fit_report(config: RankConfig, feature_sets: dict[str, tuple[str, ...]]) -> None:
    rows = all_rows(config)
    for name, features in feature_sets.items():
        mean, scale, w, b, threshold = fit_decision(rows, features)
        report = decision_report(rows, features, mean, scale, w, b, threshold)
        print(f"## {name} ({config})")
        for k, v in report.items():
            print(f"  {k}: {v:.3f}")
        print("  " + gold_sweep(rows, features, mean, scale, w, b))
        gold = [r for r in rows if r["set"] == "gold" and all(f in r["f"] for f in features)]
        print(f"## {name} with gold fitted")
        for k, v in decision_report(rows, features, *fit_decision(rows, features, gold=gold)).items():
            if not k.startswith("gold"):
                print(f"  {k}: {v:.3f}")
        for k, v in gold_folds(rows, features).items():
            print(f"  {k}: {v:.3f}")


def gold_sweep(rows: list[dict], features, mean, scale, w, b) -> str:
    """Gold abstention F1 at the threshold that keeps 0.95 of gold answerables answered (diagnostic only:
    that threshold is read off gold)."""
    gold = [r for r in rows if r["set"] == "gold" and all(f in r["f"] for f in features)]
    p = np.array([float(_sigmoid((np.array([r["f"][f] for f in features]) - mean) / scale @ w + b)) for r in gold])
    y = np.array([r["answerable"] for r in gold])
    t = float(np.quantile(p[y], 0.05))
    f1 = metrics.abstention_scores(list(p < t), list(~y)).f1
    return f"gold AUC {auc(p, y):.3f}; at 0.95 answered: abstain_f1 {f1:.3f}"


def gold_folds(rows: list[dict], features, k: int = 5, seed: int = 0) -> dict[str, float]:
    """Gold fitted too: k-fold out-of-fold figures (each gold question decided by a model fitted on
    SQuAD's fit split and the other folds of gold, stratified by group)."""
    gold = [r for r in rows if r["set"] == "gold" and all(f in r["f"] for f in features)]
    fold = {}
    for g in sorted({r["group"] for r in gold}):
        members = [r["id"] for r in gold if r["group"] == g]
        random.Random(seed).shuffle(members)
        fold |= {m: i % k for i, m in enumerate(members)}
    pred, should = [], []
    answered = []
    for i in range(k):
        mean, scale, w, b, t = fit_decision(rows, features, gold=[r for r in gold if fold[r["id"]] != i])
        for r in gold:
            if fold[r["id"]] == i:
                answers = float(_sigmoid((np.array([r["f"][f] for f in features]) - mean) / scale @ w + b)) >= t
                pred.append(not answers)
                should.append(not r["answerable"])
                if r["answerable"]:
                    answered.append(answers)
    scores = metrics.abstention_scores(pred, should)
    return {"gold oof abstain_f1": scores.f1, "gold oof abstain_r": scores.recall, "gold oof answered": float(np.mean(answered))}


SHIPPED = RankConfig(10, "max", 0.0, 3)  # = Settings rerank_top, rerank_text, rerank_fused_weight, rerank_passages


if __name__ == "__main__":
    sys.exit(main())
