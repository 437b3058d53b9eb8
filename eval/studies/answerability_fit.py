"""Fit the answerability decision (index/answerability.json) and report it on held-out questions.

    python -m eval.studies.answerability_fit collect    # signals through the search path, cached in var/studies
    python -m eval.studies.answerability_fit fit        # writes index/answerability.json, prints the tables

Data, and what is held out (the split is by document, so no question or passage is on both sides):
- fit: gold `bundled.jsonl` (answerable and unanswerable, the bundled index); SQuAD part 1 articles
  7-12 asked of the bundled index (off-corpus, should abstain); SQuAD near-topic negatives from
  articles 7-12 with 5 paragraphs per article removed, removal seeds 1-2 (asked without their
  paragraph: abstain; with it: answer), and half as many kept questions of the same articles (answer).
- held out, never fitted: gold `neartopic.jsonl` (written before any tuning); SQuAD articles 1-6
  off-corpus; SQuAD near-topic from articles 1-6, seed 0 (= `verbatim eval --neartopic … --max-articles 6`).
The gold answerables are in the fit, so gold figures from the shipped model are partly in-sample:
the report adds 5-fold cross-validated (out-of-fold) figures for them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.datasets import GoldQuestion, load_gold, load_squad, near_topic, with_source_files
from eval.run import GOLD_DIR, NEARTOPIC_PER_ARTICLE
from eval.studies.common import SQUAD, STUDIES_DIR, kept_index
from index.answerability import FEATURES, MODEL_PATH, AnswerabilityModel
from index.build import build_index, index_is_current
from index.config import Settings
from index.search import Searcher

SIGNALS_PATH = STUDIES_DIR / "answerability-signals.jsonl"
FIT_ARTICLES = (6, 6)  # skip, count: SQuAD part 1 articles 7-12
HELD_ARTICLES = (0, 6)  # articles 1-6
FIT_SEEDS = (1, 2)
OFFCORPUS_SAMPLE = 150
# The threshold keeps at least this share of each answerable fit group answered (targets: 0.95 of gold
# answerables, 0.90 of SQuAD questions with their paragraph present; a little above, for held-out data).
MIN_ANSWERED = {"gold": 0.96, "SQuAD": 0.92}
L2 = 0.01


@dataclass
class Group:
    name: str  # what the question set is
    split: str  # "fit" or "held"
    searcher: Searcher
    questions: list[GoldQuestion]
    answerable: bool


SIGNALS_VERSION = 2  # bump when Signals change: cached signals of another version are not reused


def _config_tag(settings: Settings) -> str:
    return f"v{SIGNALS_VERSION}|{settings.reranker}|{settings.rerank_top}|{settings.rerank_window_chars}|{settings.rerank_fused_weight}|{settings.model}"


def groups(base: Settings) -> list[Group]:
    if not index_is_current(base):
        build_index(base)
    bundled = Searcher(base)
    gold = load_gold(GOLD_DIR / "bundled.jsonl")
    out = [
        Group("gold answerable", "fit", bundled, [q for q in gold if q.answerable], True),
        Group("gold unanswerable", "fit", bundled, [q for q in gold if not q.answerable], False),
        Group("gold near-topic", "held", bundled, load_gold(GOLD_DIR / "neartopic.jsonl"), False),
    ]
    _, squad_questions = load_squad(SQUAD)
    articles = json.loads(SQUAD.read_text())["data"]
    first_of = np.cumsum([0] + [sum(len(p["qas"]) for p in a["paragraphs"]) for a in articles])
    for split, (skip, count) in (("fit", FIT_ARTICLES), ("held", HELD_ARTICLES)):
        questions = squad_questions[first_of[skip] : first_of[skip + count]]
        sample = sorted(random.Random(0).sample(range(len(questions)), OFFCORPUS_SAMPLE))
        out.append(Group("off-corpus SQuAD", split, bundled, [questions[i] for i in sample], False))
    for split, (skip, count), seeds in (("fit", FIT_ARTICLES, FIT_SEEDS), ("held", HELD_ARTICLES, (0,))):
        for seed in seeds:
            nt = near_topic(SQUAD, seed=seed, per_article=NEARTOPIC_PER_ARTICLE, max_articles=count, skip_articles=skip)
            present, present_files = kept_index(f"nt-{split}-present", nt.present, base)
            removed, _ = kept_index(f"nt-{split}-s{seed}-removed", nt.removed, base)
            file_of = {v: k for k, v in present_files.items()}
            retag = lambda qs: with_source_files(qs, file_of)
            negatives = retag(nt.questions)
            kept = retag(random.Random(seed).sample(nt.kept, min(len(nt.kept), len(negatives) // 2)))
            out += [
                Group(f"SQuAD near-topic (paragraph removed) s{seed}", split, Searcher(removed), negatives, False),
                Group(f"same questions, paragraph present s{seed}", split, Searcher(present), negatives, True),
                Group(f"SQuAD kept questions s{seed}", split, Searcher(removed), kept, True),
            ]
    return out


def collect(base: Settings) -> None:
    tag = _config_tag(base)
    done = set()
    if SIGNALS_PATH.is_file():
        done = {(r["group"], r["id"]) for r in map(json.loads, SIGNALS_PATH.read_text().splitlines()) if r["config"] == tag}
    with SIGNALS_PATH.open("a", encoding="utf-8") as fh:
        for group in groups(base):
            todo = [q for q in group.questions if (group.name + "|" + group.split, q.id) not in done]
            print(f"{group.split} {group.name}: {len(todo)} of {len(group.questions)} to ask", file=sys.stderr, flush=True)
            for q in todo:
                # The search path up to the decision (Searcher.search computes the same, then evidence).
                signals = group.searcher.rank(q.question, "hybrid", rerank=True).signals(q.question)
                record = {
                    "config": tag,
                    "group": group.name + "|" + group.split,
                    "id": q.id,
                    "question": q.question,
                    "answerable": group.answerable,
                    "signals": signals.to_dict(),
                }
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                fh.flush()


# --- fitting -------------------------------------------------------------------------------------


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = L2, steps: int = 3000) -> tuple[np.ndarray, float]:
    """Weighted L2-regularized logistic regression by Newton's method on standardized features."""
    w = np.zeros(x.shape[1] + 1)
    xb = np.hstack([x, np.ones((len(x), 1))])
    reg = np.full(len(w), l2)
    reg[-1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (weight * (p - y)) / weight.sum() + reg * w
        hess = (xb * (weight * p * (1 - p))[:, None]).T @ xb / weight.sum() + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w[:-1], float(w[-1])


def load_signals(tag: str) -> list[dict]:
    rows = [r for r in map(json.loads, SIGNALS_PATH.read_text().splitlines()) if r["config"] == tag]
    return list({(r["group"], r["id"]): r for r in rows}.values())


def design(rows: list[dict], features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([[r["signals"][f] for f in features] for r in rows], dtype=np.float64)
    y = np.array([1.0 if r["answerable"] else 0.0 for r in rows])
    # Every group weighs the same in total: 300 off-corpus questions must not drown 13 gold unanswerables.
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r["group"]] = sizes.get(r["group"], 0) + 1
    weight = np.array([1.0 / sizes[r["group"]] for r in rows])
    return x, y, weight


def train(rows: list[dict], features: tuple[str, ...], reranker: str, fitted: dict) -> AnswerabilityModel:
    x, y, weight = design(rows, features)
    mean, scale = x.mean(0), x.std(0) + 1e-9
    coef, bias = fit_logistic((x - mean) / scale, y, weight)
    model = AnswerabilityModel(tuple(features), tuple(mean.round(6)), tuple(scale.round(6)), tuple(coef.round(6)), round(bias, 6), 0.5, reranker, fitted)
    probs = np.array([model.probability_values(row) for row in x])
    threshold = 1.0
    for group in {r["group"] for r in rows if r["answerable"]}:
        share = MIN_ANSWERED["gold" if group.startswith("gold") else "SQuAD"]
        answerable = np.sort([p for p, r in zip(probs, rows) if r["group"] == group])
        threshold = min(threshold, float(answerable[int(np.floor((1 - share) * len(answerable)))]))
    return AnswerabilityModel(model.features, model.mean, model.scale, model.weights, model.bias, round(threshold, 6), reranker, fitted)


def table(rows: list[dict], predict) -> list[str]:
    lines = ["| split | question set | questions | should | abstained | answered |", "|---|---|---|---|---|---|"]
    by_group: dict[str, list[dict]] = {}
    for r in rows:
        by_group.setdefault(r["group"], []).append(r)
    for group, members in sorted(by_group.items(), key=lambda kv: (kv[0].split("|")[1] != "fit", kv[0])):
        name, split = group.split("|")
        abstained = float(np.mean([not predict(r) for r in members]))
        should = "answer" if members[0]["answerable"] else "abstain"
        lines.append(f"| {split} | {name} | {len(members)} | {should} | {abstained:.3f} | {1 - abstained:.3f} |")
    return lines


def precision_recall(rows: list[dict], predict) -> str:
    pred_abstain = np.array([not predict(r) for r in rows])
    should = np.array([not r["answerable"] for r in rows])
    tp = float((pred_abstain & should).sum())
    p = tp / max(1.0, pred_abstain.sum())
    rec = tp / max(1.0, should.sum())
    return f"abstention precision {p:.3f}, recall {rec:.3f}, F1 {2 * p * rec / max(1e-9, p + rec):.3f} over {len(rows)} questions"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("collect", "fit"))
    parser.add_argument("--features", nargs="+", default=list(FEATURES))
    parser.add_argument("--dry-run", action="store_true", help="fit and report without writing the JSON")
    args = parser.parse_args(argv)
    base = Settings()
    if args.action == "collect":
        collect(base)
        return 0
    rows = load_signals(_config_tag(base))
    fit_rows = [r for r in rows if r["group"].endswith("|fit")]
    features = tuple(args.features)
    fitted = {
        "by": "python -m eval.studies.answerability_fit fit",
        "date": dt.date.today().isoformat(),
        "data": f"{len(fit_rows)} fit questions in {len({r['group'] for r in fit_rows})} groups (see the script's docstring)",
        "search": _config_tag(base),
    }
    model = train(fit_rows, features, base.reranker, fitted)
    predict = lambda r: model.answers_values([r["signals"][f] for f in model.features])
    print("\n".join(table(rows, predict)))
    print("fit:", precision_recall(fit_rows, predict))
    print("held out:", precision_recall([r for r in rows if r["group"].endswith("|held")], predict))
    # Out-of-fold figures for the gold questions in the fit: 5 folds, each predicted by a model fitted without it.
    gold_rows = [r for r in fit_rows if r["group"].startswith("gold")]
    others = [r for r in fit_rows if not r["group"].startswith("gold")]
    folds = np.arange(len(gold_rows)) % 5
    random.Random(0).shuffle(folds)
    oof = []
    for f in range(5):
        m = train(others + [r for r, g in zip(gold_rows, folds) if g != f], features, base.reranker, fitted)
        oof += [(r, m.answers_values([r["signals"][x] for x in m.features])) for r, g in zip(gold_rows, folds) if g == f]
    print("gold 5-fold out-of-fold:", precision_recall([r for r, _ in oof], lambda r: dict((id(a), b) for a, b in oof)[id(r)]))
    answered = np.mean([b for r, b in oof if r["answerable"]])
    print(f"gold answerable answered (out-of-fold): {answered:.3f}")
    print(json.dumps({"features": model.features, "weights": model.weights, "threshold": model.threshold}))
    if not args.dry_run:
        Path(MODEL_PATH).write_text(model.to_json() + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
