"""What the studies share: benchmark indexes kept under var/studies, and cross-encoder scores cached on disk.

Scores are cached per (model, question, text) in a JSON file, so combinations, N and inputs can be
compared again without re-scoring (one pair costs ~20-100 ms of a core).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.datasets import BENCHMARKS, Document, GoldQuestion, load_beir, load_gold, load_squad, with_source_files
from eval.run import default_gold_files
from index.build.pipeline import build_index, index_is_current
from index.config import Settings
from index.models.embed import get_embedder
from index.models.rerank import get_reranker

STUDIES_DIR = Path("var/studies")
SQUAD = BENCHMARKS / "squad-v1.1-dev-part1.json"
TREC = BENCHMARKS / "trec-dl-msmarco-5k"


class ScoreCache:
    """Cross-encoder logits by sha1(model, question, text), in var/studies/ce-<model>.json."""

    def __init__(self, model: str, part: str = "", folder: Path = STUDIES_DIR) -> None:
        self.model = model
        # One file per dataset: studies of different datasets can run side by side.
        self.path = folder / f"ce-{model.replace('/', '_')}{'-' + part if part else ''}.json"
        self.scores: dict[str, float] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self._dirty = 0

    @staticmethod
    def key(question: str, text: str) -> str:
        return hashlib.sha1(f"{question}\x1f{text}".encode()).hexdigest()[:20]

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if self.key(question, t) not in self.scores))
        if missing:
            for text, value in zip(missing, get_reranker(self.model).score(question, missing), strict=True):
                self.scores[self.key(question, text)] = round(float(value), 4)
            self._dirty += len(missing)
            if self._dirty > 2000:
                self.save()
        return np.array([self.scores[self.key(question, t)] for t in texts], dtype=np.float32)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        part = self.path.with_suffix(".part")
        part.write_text(json.dumps(self.scores))
        os.replace(part, self.path)
        self._dirty = 0


def kept_index(name: str, documents: list[Document], base: Settings) -> tuple[Settings, dict[str, str]]:
    """An index of `documents` in var/studies/<name>, built once and reused; file name -> document name."""
    workdir = STUDIES_DIR / name
    sources = workdir / "sources"
    doc_of_file = {f"{i:06d}.txt": doc.name for i, doc in enumerate(documents)}
    settings = base.with_overrides(sources_dir=sources, index_dir=workdir / "index")
    if not sources.is_dir() or sorted(p.name for p in sources.glob("*.txt")) != sorted(doc_of_file):
        sources.mkdir(parents=True, exist_ok=True)
        for old in sources.glob("*.txt"):
            old.unlink()
        for file, doc in zip(doc_of_file, documents, strict=True):
            (sources / file).write_text(doc.text, encoding="utf-8")
    if not index_is_current(settings):
        print(f"building {settings.index_dir}", file=sys.stderr)
        build_index(settings, embedder=get_embedder(settings.model), full=True)
    return settings, doc_of_file


@dataclass
class Dataset:
    name: str
    settings: Settings
    questions: list[GoldQuestion]
    qrels: dict[str, dict[str, int]] | None = None  # BEIR: judged documents per question id
    doc_of_file: dict[str, str] | None = None


def gold(base: Settings) -> Dataset:
    if not index_is_current(base):
        build_index(base)
    return Dataset("gold", base, [q for path in default_gold_files() for q in load_gold(path)])


def squad(base: Settings, sample: int | None = None, seed: int = 0, path: Path = SQUAD, model_tag: str = "") -> Dataset:
    documents, questions = load_squad(path)
    settings, doc_of_file = kept_index(f"squad{model_tag}", documents, base)
    file_of_doc = {v: k for k, v in doc_of_file.items()}
    questions = with_source_files(questions, file_of_doc)
    if sample and sample < len(questions):
        questions = sorted(random.Random(seed).sample(questions, sample), key=lambda q: q.id)
    return Dataset("squad", settings, questions)


def trec(base: Settings, path: Path = TREC, model_tag: str = "") -> Dataset:
    data = load_beir(path)
    settings, doc_of_file = kept_index(f"trec{model_tag}", data.documents, base)
    questions = [GoldQuestion(qid, data.queries[qid], ()) for qid in sorted(data.qrels)]
    return Dataset("trec", settings, questions, data.qrels, doc_of_file)
