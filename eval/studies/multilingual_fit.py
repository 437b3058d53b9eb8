"""The multilingual reader's span gate and the Spanish route's decision, fitted on articles the reader never
trained on, checked on others (index/search/span_gate_multilingual.json).

    python -m eval.studies.multilingual_fit collect   # Spanish questions through the one search path -> var/studies/multilingual-spans.json
    python -m eval.studies.multilingual_fit fit       # fit on the calibration articles, figures on the held-out ones
    python -m eval.studies.multilingual_fit ship      # the same, then write the gate
    python -m eval.studies.multilingual_fit decide    # the route's decision with the retrieval's cosines too (a study)

Questions: XQuAD-es (professional translations, all answerable) asked of an index of XQuAD's English
paragraphs, and SQuAD-es (machine-translated SQuAD 2.0 questions, half unanswerable; paired with the
originals by eval.datasets.translated_pairs) asked of SQuAD 2.0 part 1's English paragraphs. Each passage the
multilingual reader reads gives a row: its span's margin and has-answer logit, and whether the span holds an
English answer. Fit (the reader's calibration articles, Steam_engine and European_Union_law): a logistic
P(span right) as span_study fits the English reader's; the span threshold, the lowest at which the shown spans
of both sets are right >= TARGET_PRECISION of the time; and `answers_above`, the probability the best span
read must pass for the route to answer, chosen for SQuAD-es's abstention F1 with >= MIN_ANSWERED of its
answerable questions answered. Figures: the held-out articles (reader_data.HELD_OUT_V1 / V2), never fitted on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

import numpy as np

from eval import metrics
from eval.datasets import load_paired_squad, load_translated_squad, with_source_files
from eval.studies.common import STUDIES_DIR, kept_index
from eval.studies.reader_data import CALIBRATION_V2, HELD_OUT_V1, HELD_OUT_V2, SQUAD2, SQUAD_ES, XQUAD_EN, XQUAD_ES
from eval.studies.span_study import _fit, _prob, precision_recall
from index.config import Settings
from index.search import Searcher
from index.search.highlight import sentence_of
from index.search.span_check import MULTILINGUAL_GATE_PATH, SpanGate, about_what_is_asked, of_the_type_asked

ROWS = STUDIES_DIR / "multilingual-spans.json"
FEATURES = ("margin", "has_answer")
TARGET_PRECISION = {"xquad_es": 0.90, "squad_es": 0.80}  # as the English gate: adversarial SQuAD 2.0 questions 0.80
MIN_ANSWERED = 0.85


def collect() -> None:
    """One row per passage read, for every XQuAD-es and SQuAD-es question, through Searcher.search."""
    settings = Settings()
    rows: list[dict] = []
    for group, (documents, questions) in {
        "xquad_es": load_paired_squad(XQUAD_EN, XQUAD_ES),
        "squad_es": load_translated_squad(SQUAD2, SQUAD_ES),
    }.items():
        index, doc_of_file = kept_index(f"multilingual-{group}", documents, settings)
        file_of_doc = {v: k for k, v in doc_of_file.items()}
        searcher = Searcher(index)
        reader = searcher.multilingual_reader_calls()
        if reader is None:
            raise SystemExit("no multilingual reader installed (index/models/trained/reader-multilingual)")
        for n, q in enumerate(with_source_files(questions, file_of_doc)):
            answer = searcher.search(q.question)
            article = doc_of_file[q.sources[0]].removesuffix(".txt")
            hits = answer.hits[: settings.reader_top]
            spans = reader.read(q.question, [h.passage.text for h in hits]) if hits else []
            for rank, (hit, span) in enumerate(zip(hits, spans, strict=True), start=1):
                a, b = sentence_of(hit.passage, span)
                right = q.answerable and any(metrics.line_answers(c.occurrence.file, span.text, q.answers, None) for c in hit.citations)
                rows.append({
                    "group": group, "article": article, "question": q.id, "rank": rank, "answerable": q.answerable,
                    "route": answer.route, "cosine": hit.dense_score, "margin": span.margin, "has_answer": span.has_answer,
                    "text": span.text, "nonempty": span.end > span.start, "right": bool(right),
                    "f1": metrics.span_scores(span.text, q.answers)[1] if q.answerable else 0.0,
                    "type_ok": of_the_type_asked(q.question, span.text),
                    "about_ok": about_what_is_asked(q.question, hit.passage.text, (a, b), span),
                })
            if n % 200 == 0:
                print(f"{group}: {n}/{len(questions)}", file=sys.stderr)
    ROWS.parent.mkdir(parents=True, exist_ok=True)
    ROWS.write_text(json.dumps(rows) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} rows to {ROWS}", file=sys.stderr)


def _split(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    calibration = set(CALIBRATION_V2)
    held = set(HELD_OUT_V1) | set(HELD_OUT_V2)
    fit = [r for r in rows if r["article"] in calibration and r["nonempty"]]
    test = [r for r in rows if r["article"] in held]
    return fit, test


def span_threshold(rows: list[dict], p: np.ndarray) -> float:
    """The lowest threshold at which each group's shown spans are right at least as often as its target."""
    for t in np.arange(0.05, 0.99, 0.01):
        ok = True
        for group, target in TARGET_PRECISION.items():
            mask = np.array([r["group"] == group for r in rows])
            if mask.any() and precision_recall([r for r in rows if r["group"] == group], p[mask], t)[0] < target:
                ok = False
        if ok:
            return round(float(t), 2)
    return 0.99


def per_question(rows: list[dict], p: np.ndarray) -> dict[tuple[str, str], dict]:
    """Each question's best span probability, whether it is answerable, and the shown spans' figures."""
    out: dict[tuple[str, str], dict] = {}
    for r, pr in zip(rows, p):
        q = out.setdefault((r["group"], r["question"]), {"answerable": r["answerable"], "best": 0.0, "rows": []})
        q["best"] = max(q["best"], float(pr) if r["nonempty"] else 0.0)
        q["rows"].append((r, float(pr)))
    return out


def abstention(questions: dict, above: float) -> tuple[float, float]:
    """SQuAD-es abstention F1 and the share of its answerable questions answered, answering when best >= above."""
    qs = [q for (g, _), q in questions.items() if g == "squad_es"]
    if not qs:
        return 0.0, 0.0
    abstained = [q["best"] < above for q in qs]
    truth = [not q["answerable"] for q in qs]
    tp = sum(a and t for a, t in zip(abstained, truth))
    precision = tp / max(1, sum(abstained))
    recall = tp / max(1, sum(truth))
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    answered = sum((not a) and (not t) for a, t in zip(abstained, truth)) / max(1, sum(not t for t in truth))
    return f1, answered


def answers_above(questions: dict) -> float:
    """The probability the best span must pass: best abstention F1 with >= MIN_ANSWERED answered."""
    best, chosen = -1.0, 0.0
    for t in np.arange(0.0, 0.99, 0.01):
        f1, answered = abstention(questions, t)
        if answered >= MIN_ANSWERED and f1 > best:
            best, chosen = f1, round(float(t), 2)
    return chosen


def figures(rows: list[dict], model, threshold: float, above: float) -> dict:
    """Shown-span precision and F1, answered share and abstention F1, per group, for rows of one split."""
    p = _prob(model, rows) if rows else np.zeros(0)
    questions = per_question(rows, p)
    out: dict[str, float] = {}
    for group in TARGET_PRECISION:
        qs = {k: q for k, q in questions.items() if k[0] == group}
        answered = {k: q for k, q in qs.items() if q["best"] >= above}
        shown = [(r, pr) for q in answered.values() for r, pr in q["rows"] if r["nonempty"] and pr >= threshold]
        first = [max(((r, pr) for r, pr in q["rows"] if r["nonempty"] and pr >= threshold), key=lambda x: x[1], default=None)
                 for q in answered.values() if q["answerable"]]
        out[f"{group}_questions"] = len(qs)
        out[f"{group}_answered"] = round(sum(q["answerable"] for q in answered.values()) / max(1, sum(q["answerable"] for q in qs.values())), 3)
        out[f"{group}_shown_spans"] = len(shown)
        out[f"{group}_shown_precision"] = round(float(np.mean([r["right"] for r, _ in shown])), 3) if shown else 1.0
        # the answer span F1 of each answerable question: its surest shown span's (0 when none is shown)
        f1s = [x[0]["f1"] if x else 0.0 for x in first] + [0.0] * sum(q["answerable"] and q["best"] < above for q in qs.values())
        out[f"{group}_answer_span_f1"] = round(float(np.mean(f1s)), 3) if f1s else 0.0
        shown_f1 = [x[0]["f1"] for x in first if x]
        out[f"{group}_shown_span_f1"] = round(float(np.mean(shown_f1)), 3) if shown_f1 else 0.0
    f1, answered = abstention(questions, above)
    out["squad_es_abstain_f1"], out["squad_es_answerable_answered"] = round(f1, 3), round(answered, 3)
    return out


def fit(ship: bool) -> dict:
    rows = json.loads(ROWS.read_text(encoding="utf-8"))
    train, test = _split(rows)
    model = _fit(train)
    p = _prob(model, train)
    threshold = span_threshold(train, p)
    above = answers_above(per_question(train, p))
    report = {
        "threshold": threshold, "answers_above": above,
        "calibration (fitted on)": figures([r for r in rows if r["article"] in set(CALIBRATION_V2)], model, threshold, above),
        "held out": figures(test, model, threshold, above),
    }
    print(json.dumps(report, indent=1))
    if ship:
        from index.models.reader import get_reader
        from index.models.reader import MULTILINGUAL_READER_DIR

        mean, scale, w, b = model
        gate = SpanGate(
            FEATURES, tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in scale),
            tuple(round(float(v), 6) for v in w), round(float(b), 6), threshold, get_reader(MULTILINGUAL_READER_DIR).sha256,
            {"by": "python -m eval.studies.multilingual_fit collect && python -m eval.studies.multilingual_fit ship",
             "date": dt.date.today().isoformat(), "rows": len(train), "figures": report},
            above,
        )
        MULTILINGUAL_GATE_PATH.write_text(json.dumps(gate.to_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MULTILINGUAL_GATE_PATH}", file=sys.stderr)
    return report


DECISION_FEATURES = {  # per question; "best" is what the route decides on today
    "best span probability (as shipped)": ("best",),
    "+ first passage's cosine": ("best", "cosine"),
    "+ its gap to the second's": ("best", "cosine", "cosine_gap"),
    "+ best margin and has-answer logit": ("best", "cosine", "cosine_gap", "margin", "has_answer"),
}


def _question_features(rows: list[dict], model) -> list[tuple[str, bool, dict[str, float]]]:
    """(group, answerable, features) per question: its best span probability, the first passage's cosine and its gap
    to the second's, the best margin and has-answer logit."""
    by_question: dict[tuple[str, str], list[tuple[dict, float]]] = {}
    for r, pr in zip(rows, _prob(model, rows)):
        by_question.setdefault((r["group"], r["question"]), []).append((r, float(pr) if r["nonempty"] else 0.0))
    out = []
    for (group, _), read in by_question.items():
        read.sort(key=lambda x: x[0]["rank"])
        cosines = [r["cosine"] for r, _ in read] + [0.0]
        out.append((group, read[0][0]["answerable"], {
            "best": max(pr for _, pr in read), "cosine": cosines[0], "cosine_gap": cosines[0] - cosines[1],
            "margin": max(r["margin"] for r, _ in read), "has_answer": max(r["has_answer"] for r, _ in read),
        }))
    return out


def decision_study() -> None:
    """Fit a per-question logistic decision on the calibration articles' SQuAD-es questions (threshold: the best
    abstention F1 with >= MIN_ANSWERED answered) for each feature set; print its held-out figures."""
    from eval.studies.answer_study import _sigmoid, fit_standardized

    rows = json.loads(ROWS.read_text(encoding="utf-8"))
    train, _ = _split(rows)
    model = _fit(train)
    fit_q = [q for q in _question_features([r for r in rows if r["article"] in set(CALIBRATION_V2)], model) if q[0] == "squad_es"]
    held_q = _question_features([r for r in rows if r["article"] in set(HELD_OUT_V1) | set(HELD_OUT_V2)], model)

    def scores(items, features, fitted) -> tuple[np.ndarray, np.ndarray]:
        mean, scale, w, b = fitted
        x = np.array([[f[n] for n in features] for _, _, f in items])
        return _sigmoid(((x - mean) / scale) @ w + b), np.array([not a for _, a, _ in items])

    def f1_answered(p: np.ndarray, unanswerable: np.ndarray, t: float) -> tuple[float, float]:
        abstained = p < t
        f1 = metrics.abstention_scores(list(abstained), list(unanswerable)).f1 if unanswerable.any() else 0.0
        return f1, float((~abstained & ~unanswerable).sum() / max(1, (~unanswerable).sum()))

    for name, features in DECISION_FEATURES.items():
        x = np.array([[f[n] for n in features] for _, _, f in fit_q])
        y = np.array([float(a) for _, a, _ in fit_q])
        fitted = fit_standardized(x, y, np.ones(len(y)) / len(y))[:4]
        p, truth = scores(fit_q, features, fitted)
        t = max((t for t in np.arange(0.0, 1.0, 0.005) if f1_answered(p, truth, t)[1] >= MIN_ANSWERED),
                key=lambda t: f1_answered(p, truth, t)[0])
        es = scores([q for q in held_q if q[0] == "squad_es"], features, fitted)
        xq = scores([q for q in held_q if q[0] == "xquad_es"], features, fitted)
        f1, answered = f1_answered(*es, t)
        print(f"{name}: held-out SQuAD-es abstention F1 {f1:.3f}, answered {answered:.3f}; XQuAD-es answered {f1_answered(*xq, t)[1]:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.multilingual_fit", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("collect", "fit", "ship", "decide"))
    args = parser.parse_args(argv)
    if args.action == "collect":
        collect()
    elif args.action == "decide":
        decision_study()
    else:
        fit(args.action == "ship")
    return 0


if __name__ == "__main__":
    sys.exit(main())
