"""Which unanswerable questions a reader tells apart, closed task (the gold paragraph given): the no-answer
AUC of its has-answer score against answerable questions, for each kind of negative, on held-out articles.

    python -m eval.studies.negatives_study index/models/trained/reader /tmp/reader-candidate

- SQuAD 2.0 part 1's held-out articles: all questions; their unanswerable questions worded with a negation
  ("not", "never", …) and the others, each against the answerable ones;
- negatives built from SQuAD v1.1 part 1's held-out articles as training builds them (`contrary`,
  `perturbed`: eval/studies/reader_data.py), 300 of each, against 300 of those articles' answerable questions.
A kind a reader scores near 1.0 it has learnt; the gap to SQuAD 2.0's own says whether the built kind is the
one that matters.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

import numpy as np

from eval.metrics import roc_auc
from eval.studies.reader_data import (
    HELD_OUT_V1, SQUAD1, Example, as_example, contrary, held_out_examples, perturb, squad_questions, text_pool,
)
from index.models.reader import Reader

_NEGATION = re.compile(r"\b(not|never|no|n't|without)\b", re.IGNORECASE)
SAMPLE = 300


def built_sets() -> dict[str, list[Example]]:
    """Answerable questions of the v1.1 held-out articles and the negatives built from them (fixed seeds)."""
    questions = [q for q in squad_questions(SQUAD1, HELD_OUT_V1, True) if q.answer_start is not None]
    rng = random.Random(0)
    pools = {a: text_pool(next(q.paragraphs for q in questions if q.article == a)) for a in {q.article for q in questions}}
    sets = {
        "answerable": [as_example(q) for q in questions],
        "contrary": [e for q in questions if (e := contrary(q, rng))],
        "perturbed": [e for q in questions if (e := perturb(q, rng, pools[q.article]))],
    }
    return {name: random.Random(1).sample(s, min(SAMPLE, len(s))) for name, s in sets.items()}


def _against(positive: np.ndarray, negative: np.ndarray) -> float:
    return roc_auc(np.r_[positive, negative], np.r_[np.ones(len(positive)), np.zeros(len(negative))].astype(bool))


def figures(reader: Reader, built: dict[str, list[Example]]) -> dict[str, float | int]:
    """The no-answer AUCs of one reader (see the module's docstring)."""
    def has(examples: list[Example]) -> np.ndarray:
        return np.array([reader.read(e.question, [e.context])[0].has_answer for e in examples])

    v2 = held_out_examples("v2")
    scores, answerable = has(v2), np.array([e.answer_start is not None for e in v2])
    negated = np.array([bool(_NEGATION.search(e.question)) for e in v2])
    out: dict[str, float | int] = {
        "v2_all": roc_auc(scores, answerable),
        "v2_negated": _against(scores[answerable], scores[~answerable & negated]),
        "v2_other": _against(scores[answerable], scores[~answerable & ~negated]),
        "v2_negated_n": int((~answerable & negated).sum()),
        "v2_other_n": int((~answerable & ~negated).sum()),
    }
    positive = has(built["answerable"])
    for name in ("contrary", "perturbed"):
        out[f"built_{name}"] = _against(positive, has(built[name]))
        out[f"built_{name}_n"] = len(built[name])
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.negatives_study", description=__doc__.split("\n\n")[0])
    parser.add_argument("readers", nargs="+", help="reader folders (model.onnx, tokenizer.json, reader.json)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    built = built_sets()
    for folder in args.readers:
        print(folder, json.dumps(figures(Reader(Path(folder), threads=args.threads), built)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
