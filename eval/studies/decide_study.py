"""The decision "do the sources answer?" refitted with the reader's no-answer evidence, reproducibly.

    python -m eval.studies.decide_study collect   # run the real search (rerank + read) and keep every signal
    python -m eval.studies.decide_study fit       # feature sets compared, leave-one-article-out on the fit data
    python -m eval.studies.decide_study ship      # write index/search/answerability.json

Fit data, never the held-out articles (index/models/trained/reader/reader.json `held_out_articles`):
- SQuAD 2.0 part 1, the reader's training articles, as an open task over all 277 paragraphs: answerable
  questions should be answered, the human-written unanswerable ones abstained from;
- the gold set (eval/gold: the bundled corpus's questions and its near-topic questions), out of fold;
- off-corpus: SQuAD v1.1 questions of the reader's training articles asked of the bundled corpus.
Signals come from `Searcher.search` itself (index/search/decision.py answer_signals), so what is fitted
is what the product computes. Rows are kept in var/studies/decide-*.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from pathlib import Path

import numpy as np

from eval import metrics
from eval.datasets import load_gold, load_squad, safe_document_name, with_source_files
from eval.run import default_gold_files
from eval.studies.answer_study import _sigmoid, fit_standardized
from eval.studies.common import STUDIES_DIR, kept_index
from eval.studies.reader_data import HELD_OUT_V1, HELD_OUT_V2, SQUAD1, SQUAD2
from index.search.answerability import FEATURES, MODEL_PATH, READER_FEATURES, AnswerabilityModel
from index.build.pipeline import build_index, index_is_current
from index.config import Settings
from index.search import Searcher
from index.search.highlight import sentence_of
from index.search.span_check import about_what_is_asked, of_the_type_asked
from index.models.reader import reader_calibration_articles

BASE = tuple(f for f in FEATURES if f not in READER_FEATURES)  # the decision shipped before the reader
FEATURE_SETS = {
    "signals (before the reader)": BASE,
    "reader only": READER_FEATURES,
    "signals + reader": BASE + READER_FEATURES,
}
SHIPPED_FEATURES = BASE + READER_FEATURES
MIN_ANSWERED = {"squad2": 0.85, "gold": 0.95}  # threshold: the highest that keeps these shares answered
OFFCORPUS_QUESTIONS = 300


def _rows_path(name: str) -> Path:
    return STUDIES_DIR / f"decide-{name}.json"


def _row(answer, group: str, article: str, qid: str, answerable: bool) -> dict:
    signals = answer.signals.to_dict() if answer.signals else None
    return {"group": group, "article": article, "id": qid, "answerable": answerable, "f": signals}


def _span_rows(searcher: Searcher, answer, group: str, article: str, q) -> list[dict]:
    """One row per passage the reader read for `answer`: its span's scores, the gate's rule checks, and
    whether the span answers (eval/studies/span_study.py fits the span gate on them)."""
    hits = answer.hits[: searcher.settings.reader_top]
    if not hits:
        return []
    spans = searcher.reader_calls().read(answer.question, [h.passage.text for h in hits])
    sentences = [sentence_of(hit.passage, span) for hit, span in zip(hits, spans, strict=True)]
    # Candidate features of the gate, compared by span_study fit (none beat the reader's own two, 2026-12-07):
    # the passage's search score, its gap to the first's, and the cross-encoder's logit of the span's sentence.
    sentence_logits = searcher.cross_encoder_calls().score(answer.question, [h.passage.text[a:b] for h, (a, b) in zip(hits, sentences)])
    rows = []
    for rank, (hit, span, (a, b)) in enumerate(zip(hits, spans, sentences, strict=True), start=1):
        # With per-source values (119,000 in PISM, 77,000 in CSIS), a span is right when it holds its own source's.
        right = q.answerable and any(metrics.line_answers(c.occurrence.file, span.text, q.answers, q.says) for c in hit.citations)
        rows.append({
            "group": group, "article": article, "id": f"{q.id}#{rank}", "question": q.id, "rank": rank,
            "margin": span.margin, "has_answer": span.has_answer, "text": span.text,
            "score": hit.score, "score_gap": hits[0].score - hit.score, "sentence_logit": float(sentence_logits[rank - 1]),
            "type_ok": of_the_type_asked(answer.question, span.text),
            "about_ok": about_what_is_asked(answer.question, hit.passage.text, (a, b), span),
            "nonempty": span.end > span.start, "right": bool(right), "answered": not answer.abstained,
        })
    return rows


def collect() -> None:
    """Ask every fit question through the real search path and keep its signals."""
    settings = Settings()
    held = {safe_document_name(t, set()) for t in HELD_OUT_V2}
    documents, questions = load_squad(SQUAD2)
    squad, doc_of_file = kept_index("squad2", documents, settings)
    file_of_doc = {v: k for k, v in doc_of_file.items()}
    # The reader's calibration articles when it names them (it never trained on them), else its other
    # training articles (an older reader).
    calibration = {safe_document_name(t, set()) for t in reader_calibration_articles()}
    fit = [q for q in questions if (q.sources[0] in calibration) if calibration] or [q for q in questions if q.sources[0] not in held]
    rows, spans = [], []
    searcher = Searcher(squad)
    for n, q in enumerate(with_source_files(fit, file_of_doc)):
        article = doc_of_file[q.sources[0]].removesuffix(".txt")
        answer = searcher.search(q.question)
        rows.append(_row(answer, "squad2", article, q.id, q.answerable))
        spans += _span_rows(searcher, answer, "squad2", article, q)
        if n % 200 == 0:
            print(f"squad2 {n}/{len(fit)}", file=sys.stderr, flush=True)
    _save("squad2", rows)
    if not index_is_current(settings):
        build_index(settings)
    searcher = Searcher(settings)
    gold = [q for path in default_gold_files() for q in load_gold(path)]
    rows = []
    for q in gold:
        answer = searcher.search(q.question)
        rows.append(_row(answer, "gold", "gold", q.id, q.answerable))
        spans += _span_rows(searcher, answer, "gold", "gold", q)
    _save("gold", rows)
    _save("spans", spans)
    _, v1 = load_squad(SQUAD1)
    trained = {safe_document_name(t, set()) for t in {a["title"] for a in json.loads(SQUAD1.read_text())["data"]}} - {
        safe_document_name(t, set()) for t in HELD_OUT_V1 + HELD_OUT_V2
    }
    off = random.Random(0).sample([q for q in v1 if q.sources[0] in trained], OFFCORPUS_QUESTIONS)
    _save("offcorpus", [_row(searcher.search(q.question), "offcorpus", q.sources[0], q.id, False) for q in off])


def _save(name: str, rows: list[dict]) -> None:
    STUDIES_DIR.mkdir(parents=True, exist_ok=True)
    _rows_path(name).write_text(json.dumps(rows), encoding="utf-8")
    print(f"kept {len(rows)} rows in {_rows_path(name)}", file=sys.stderr)


def load_rows() -> list[dict]:
    rows = []
    for name in ("squad2", "gold", "offcorpus"):
        rows += [r for r in json.loads(_rows_path(name).read_text(encoding="utf-8")) if r["f"] is not None]
    return rows


def _kind(r: dict) -> str:
    return f"{r['group']}:{'answerable' if r['answerable'] else 'not'}"


def fit(rows: list[dict], features: tuple[str, ...], l2: float = 0.01):
    """Logistic regression, each (group, answerable) kind weighing the same; threshold from MIN_ANSWERED.
    Returns (mean, scale, weights, bias, threshold)."""
    x = np.array([[r["f"][f] for f in features] for r in rows])
    y = np.array([float(r["answerable"]) for r in rows])
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[_kind(r)] = sizes.get(_kind(r), 0) + 1
    weight = np.array([1.0 / sizes[_kind(r)] for r in rows])
    mean, scale, w, b, p = fit_standardized(x, y, weight, l2)
    threshold = min(
        float(np.quantile(p[[r["group"] == g and r["answerable"] for r in rows]], 1 - share))
        for g, share in MIN_ANSWERED.items()
        if any(r["group"] == g and r["answerable"] for r in rows)
    )
    return mean, scale, w, b, threshold


def _decide(model, rows: list[dict], features) -> list[bool]:
    mean, scale, w, b, t = model
    x = np.array([[r["f"][f] for f in features] for r in rows])
    return list(_sigmoid(((x - mean) / scale) @ w + b) >= t)


def _figures(rows: list[dict], answers: list[bool]) -> dict[str, float]:
    out = {}
    for group in sorted({r["group"] for r in rows}):
        picked = [(r, a) for r, a in zip(rows, answers, strict=True) if r["group"] == group]
        should = [not r["answerable"] for r, _ in picked]
        predicted = [not a for _, a in picked]
        if any(should) and not all(should):
            out[f"{group} abstain_f1"] = metrics.abstention_scores(predicted, should).f1
            out[f"{group} answered"] = float(np.mean([a for r, a in picked if r["answerable"]]))
        elif all(should):
            out[f"{group} abstained"] = float(np.mean(predicted))
    return out


def out_of_fold(rows: list[dict], features, k: int = 5) -> dict[str, float]:
    """Every row decided by a model that never saw it: SQuAD 2.0 rows by leaving their article out, gold and
    off-corpus rows by k folds."""
    fold = {}
    for r in rows:
        if r["group"] == "squad2":
            fold[r["id"]] = r["article"]
    others = [r for r in rows if r["group"] != "squad2"]
    random.Random(0).shuffle(others)
    for i, r in enumerate(others):
        fold[r["id"]] = f"fold{i % k}"
    answers: dict[str, bool] = {}
    for name in sorted(set(fold.values())):
        train = [r for r in rows if fold[r["id"]] != name]
        test = [r for r in rows if fold[r["id"]] == name]
        for r, a in zip(test, _decide(fit(train, features), test, features), strict=True):
            answers[r["id"]] = a
    return _figures(rows, [answers[r["id"]] for r in rows])


def report(rows: list[dict]) -> None:
    print(f"{len(rows)} rows: " + ", ".join(f"{k} {sum(_kind(r) == k for r in rows)}" for k in sorted({_kind(r) for r in rows})))
    for name, features in FEATURE_SETS.items():
        figures = out_of_fold(rows, features)
        auc = metrics.roc_auc([r["f"]["reader_best_margin"] for r in rows if r["group"] == "squad2"],
                              [r["answerable"] for r in rows if r["group"] == "squad2"])
        print(f"\n## {name} (out of fold)")
        for k, v in figures.items():
            print(f"  {k}: {v:.3f}")
    print(f"\nreader_best_margin alone, SQuAD 2.0 fit articles: AUC {auc:.3f}")


def ship(rows: list[dict]) -> None:
    """Fit on every fit row and write index/search/answerability.json."""
    mean, scale, w, b, threshold = fit(rows, SHIPPED_FEATURES)
    settings = Settings()
    model = AnswerabilityModel(
        features=SHIPPED_FEATURES,
        mean=tuple(round(float(v), 6) for v in mean),
        scale=tuple(round(float(v), 6) for v in scale),
        weights=tuple(round(float(v), 6) for v in w),
        bias=round(float(b), 6),
        threshold=round(float(threshold), 6),
        reranker=settings.reranker,
        fitted={
            "by": "python -m eval.studies.decide_study collect && python -m eval.studies.decide_study ship",
            "date": dt.date.today().isoformat(),
            "data": f"{len(rows)} questions: SQuAD 2.0 part 1 open task, articles the reader names for calibration (or its training articles) "
            f"({', '.join(sorted({r['article'] for r in rows if r['group'] == 'squad2'}))}); all gold; "
            f"{OFFCORPUS_QUESTIONS} SQuAD v1.1 questions of training articles asked of the bundled corpus. "
            "Held-out figures: `verbatim eval` squad_heldout; gold out of fold: decide_study fit",
            "search": f"{settings.rerank_top}|{settings.rerank_text}|{settings.rerank_fused_weight}|"
            f"{settings.rerank_passages}|{settings.reranker}|reader_top {settings.reader_top}",
        },
    )
    MODEL_PATH.write_text(model.to_json() + "\n", encoding="utf-8")
    print(f"wrote {MODEL_PATH}: threshold {threshold:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.decide_study", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("collect", "fit", "ship"))
    args = parser.parse_args(argv)
    if args.action == "collect":
        collect()
    elif args.action == "fit":
        report(load_rows())
    else:
        ship(load_rows())
    return 0


if __name__ == "__main__":
    sys.exit(main())
