"""Mined negatives: the shipped reader's confident mistakes on the other paragraphs of its training texts.

    python -m eval.studies.mine_negatives                 # writes ~/.cache/verbatim/train/mined/negatives.jsonl
    python -m eval.studies.train_reader --init <the shipped model.onnx> --mined <that file> ...   # a next stage

For every answerable training question (the articles and texts `training_examples` uses; never a held-out or
calibration article) whose text has other paragraphs, the reader reads the TOP paragraphs that share most of its
words and hold no gold answer. A paragraph in which it prefers a span to "no answer" (margin >= MIN_MARGIN) is
a mined negative: exactly the confident wrong span a citation tool must not show. Reviews and Reddit comments
give none (each text is one paragraph, or any review answers a generic question), as for `other`.

The file's first line names the reader (sha256) and the settings; the run appends as it goes and resumes after
an interruption (questions already read are skipped).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from eval.studies import reader_data
from eval.studies.reader_data import Question, other_paragraphs
from eval.studies.train_reader import TRAIN_CACHE

TOP = 3  # other paragraphs read per question
MIN_MARGIN = 0.0  # the reader prefers its span to "no answer"
DEFAULT_OUT = TRAIN_CACHE / "mined" / "negatives.jsonl"


def training_questions() -> list[Question]:
    """The answerable training questions whose text has other paragraphs: SQuAD's and SQuADShifts new_wiki's."""
    return [
        q for q in reader_data.training_questions()
        if q.answer_start is not None and len(q.paragraphs) > 1 and q.source in ("squad", "new_wiki")
    ]


def mine(out: Path, limit: int | None = None, top: int = TOP) -> dict[str, int]:
    """Read and append; returns counts (questions read, paragraphs read, negatives kept)."""
    from index.models.reader import get_reader

    reader = get_reader()
    header = {"reader": reader.sha256, "top": top, "min_margin": MIN_MARGIN}
    done: set[str] = set()
    if out.exists():
        lines = out.read_text(encoding="utf-8").splitlines()
        if not lines or json.loads(lines[0]) != header:
            raise SystemExit(f"{out} was mined with another reader or settings: move it away to mine again")
        done = {(r := json.loads(line)).get("question_id", r["qid"]) for line in lines[1:] if line.strip()}
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(header) + "\n", encoding="utf-8")
    questions = training_questions()[:limit] if limit else training_questions()
    counts = {"questions": 0, "paragraphs": 0, "negatives": 0}
    started = time.perf_counter()
    with out.open("a", encoding="utf-8") as sink:
        for n, q in enumerate(questions):
            # A question is marked done by a line even when it gives no negative ("kept": false), so a resumed
            # run skips it.
            if q.qid in done:
                continue
            picked = other_paragraphs(q)[:top]
            spans = reader.read(q.question, [q.paragraphs[m] for m in picked]) if picked else []
            kept = [(m, s) for m, s in zip(picked, spans, strict=True) if s.end > s.start and s.margin >= MIN_MARGIN]
            for m, s in kept:
                sink.write(json.dumps({"qid": f"{q.qid}-{m}", "question_id": q.qid, "article": q.article, "source": q.source,
                                       "question": q.question, "context": q.paragraphs[m], "span": s.text,
                                       "margin": round(s.margin, 3), "kept": True}) + "\n")
            if not kept:
                sink.write(json.dumps({"qid": q.qid, "kept": False}) + "\n")
            counts["questions"] += 1
            counts["paragraphs"] += len(picked)
            counts["negatives"] += len(kept)
            if n % 500 == 0:
                sink.flush()
                print(f"{n}/{len(questions)} read, {counts['negatives']} kept, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.mine_negatives", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--limit", type=int, default=None, help="the first N questions only (a smoke run)")
    parser.add_argument("--top", type=int, default=TOP)
    args = parser.parse_args(argv)
    counts = mine(Path(args.out), args.limit, args.top)
    print(json.dumps(counts), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
