"""What the cross-encoder reads of each question's candidates, cached once, for every later study.

    python -m eval.studies.ce_features collect [--sets gold squad nt offcorpus trec]

For each question of each set, the top 20 candidates of the shipped fusion (Searcher.candidates +
fuse), and for them the cross-encoder's logit of: the window around each one's best sentence (all
20), the whole passage (top 10), and every sentence (top 10 for gold, 5 for SQuAD; sets that study
evidence only). Records go to var/studies/features/<set>.jsonl, passages to <set>-passages.jsonl.
Ranking, answerability and evidence are then studied offline (eval/studies/answer_study.py) without
calling the model again.

Sets, and the split used by every fit (by document, so nothing reported is fitted):
- gold: gold `bundled.jsonl` + `neartopic.jsonl` on the bundled index. Never fitted (held out whole).
- squad: SQuAD part 1 on one index of its 12 articles: the 1,079 questions of articles 7-12 (fit) and
  500 of the 1,802 of articles 1-6 (held; the full set is `verbatim eval --squad`).
- nt: near-topic negatives (eval.datasets.near_topic, 5 paragraphs per article removed), each asked
  without its paragraph (should abstain) and with it (should answer), plus kept questions asked without
  (should answer): articles 7-12 with seeds 1 and 2 fit, articles 1-6 with seed 0 held
  (= `verbatim eval --neartopic … --max-articles 6`).
- offcorpus: 300 SQuAD questions of articles 7-12 (fit) and 300 of articles 1-6 (held) asked of the
  bundled index (should abstain).
- trec: TREC-DL 5k's 43 judged queries (ranking only; never fitted).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.datasets import GoldQuestion, load_gold, load_squad, near_topic, with_source_files
from eval.run import GOLD_DIR, NEARTOPIC_PER_ARTICLE
from eval.studies.common import SQUAD, STUDIES_DIR, kept_index, squad, trec
from index.build.pipeline import build_index, index_is_current
from index.config import Settings
from index.search.evidence import sentence_scores
from index.storage.lexical import tokenize
from index.models.rerank import get_reranker, window_span
from index.search import Searcher, fuse

FEATURES_DIR = STUDIES_DIR / "features"
TOP_M = 20  # candidates whose window is read
PASSAGES_OF = 10  # candidates whose whole passage is read
SENTENCES_OF = {"gold": 10}  # candidates whose every sentence is read (evidence sets); else 5
WINDOW_CHARS = 400
FIT_ARTICLES = range(6, 12)  # 0-based article numbers of SQuAD part 1 used for fitting
HELD_ARTICLES = range(0, 6)
OFFCORPUS_SAMPLE = 300
SQUAD_HELD_SAMPLE = 500  # of the 1,802 questions of articles 1-6 (all 1,079 of articles 7-12 are read)


@dataclass
class Group:
    """Questions asked of one index, all expected to be answered or all expected to abstain."""

    name: str
    split: str  # "fit" or "held"
    searcher: Searcher
    questions: list[GoldQuestion]
    answerable: bool
    sentences: bool = False  # read every sentence of the top candidates (evidence studies)
    qrels: dict | None = None
    doc_of_file: dict[str, str] | None = None


def gold_groups(base: Settings) -> list[Group]:
    if not index_is_current(base):
        build_index(base)
    bundled = Searcher(base)
    gold = load_gold(GOLD_DIR / "bundled.jsonl")
    return [
        Group("gold answerable", "held", bundled, [q for q in gold if q.answerable], True, sentences=True),
        Group("gold unanswerable", "held", bundled, [q for q in gold if not q.answerable], False),
        Group("gold near-topic", "held", bundled, load_gold(GOLD_DIR / "neartopic.jsonl"), False),
    ]


def squad_groups(base: Settings) -> list[Group]:
    data = squad(base)
    searcher = Searcher(data.settings)
    out = []
    for split, articles in (("fit", FIT_ARTICLES), ("held", HELD_ARTICLES)):
        # kept_index writes article i as file i:06d.txt
        qs = [q for q in data.questions if int(Path(q.sources[0]).stem) in articles]
        if split == "held":
            qs = sorted(random.Random(0).sample(qs, SQUAD_HELD_SAMPLE), key=lambda q: q.id)
        out.append(Group("SQuAD answerable", split, searcher, qs, True, sentences=True))
    return out


def nt_groups(base: Settings) -> list[Group]:
    out = []
    for split, articles, seeds in (("fit", FIT_ARTICLES, (1, 2)), ("held", HELD_ARTICLES, (0,))):
        skip, count = articles.start, len(articles)
        for seed in seeds:
            nt = near_topic(SQUAD, seed=seed, per_article=NEARTOPIC_PER_ARTICLE, max_articles=count, skip_articles=skip)
            present, present_files = kept_index(f"nt-{split}-present", nt.present, base)
            removed, _ = kept_index(f"nt-{split}-s{seed}-removed", nt.removed, base)
            file_of = {v: k for k, v in present_files.items()}
            negatives = with_source_files(nt.questions, file_of)
            kept = with_source_files(random.Random(seed).sample(nt.kept, min(len(nt.kept), len(negatives))), file_of)
            out += [
                Group(f"SQuAD near-topic (paragraph removed) s{seed}", split, Searcher(removed), negatives, False),
                Group(f"same questions, paragraph present s{seed}", split, Searcher(present), negatives, True, sentences=True),
                Group(f"SQuAD kept questions s{seed}", split, Searcher(removed), kept, True),
            ]
    return out


def offcorpus_groups(base: Settings) -> list[Group]:
    if not index_is_current(base):
        build_index(base)
    bundled = Searcher(base)
    documents, questions = load_squad(SQUAD)
    article = {d.name: i for i, d in enumerate(documents)}
    out = []
    for split, articles in (("fit", FIT_ARTICLES), ("held", HELD_ARTICLES)):
        pool = [q for q in questions if article[q.sources[0]] in articles]
        sample = sorted(random.Random(0).sample(range(len(pool)), OFFCORPUS_SAMPLE))
        out.append(Group("off-corpus SQuAD", split, bundled, [GoldQuestion(pool[i].id, pool[i].question, ()) for i in sample], False))
    return out


def trec_groups(base: Settings) -> list[Group]:
    data = trec(base)
    return [Group("TREC-DL", "held", Searcher(data.settings), data.questions, True, qrels=data.qrels, doc_of_file=data.doc_of_file)]


SETS = {"gold": gold_groups, "squad": squad_groups, "nt": nt_groups, "offcorpus": offcorpus_groups, "trec": trec_groups}


def ask(group: Group, q: GoldQuestion, seen_passages: set, passages_out) -> dict:
    searcher = group.searcher
    s = searcher.settings
    model = get_reranker(s.reranker)
    c = searcher.candidates(q.question)
    index = c.index
    fused = fuse(c.semantic(s.sentence_weight), c.lexical, "hybrid", s.dense_weight, s.fusion)
    order = np.argsort(-fused, kind="stable")[:TOP_M]
    terms = set(tokenize([q.question])[0])
    cands, windows, full, sentence_texts, sentence_owner = [], [], [], [], []
    for rank, i in enumerate(order):
        row = int(c.rows[i])
        passage = index.passages[row]
        texts = [passage.text[sp.start : sp.end] for sp in passage.sentences]
        bi = sentence_scores(c.question_vector, terms, texts, index.sentence_vectors(row)) if texts else np.zeros(0)
        if texts:
            first, last = window_span(len(texts), [len(t) for t in texts], int(np.argmax(bi)), WINDOW_CHARS)
            windows.append(passage.text[passage.sentences[first].start : passage.sentences[last].end])
        else:
            first = last = 0
            windows.append(passage.text)
        key = f"{s.index_dir}/{row}"
        if key not in seen_passages:
            seen_passages.add(key)
            heading = passage.occurrences[0].heading if passage.occurrences else ""
            passages_out.write(json.dumps({"key": key, "text": passage.text, "sentences": [[x.start, x.end] for x in passage.sentences], "files": list(passage.files), "heading": heading}, ensure_ascii=False) + "\n")
        cand = {
            "key": key,
            "files": list(passage.files),
            "fused": round(float(fused[i]), 5),
            "dense": round(float(c.dense[i]), 5),
            "lexical": round(float(c.lexical[i]), 5),
            "best_sentence": round(float(c.best_sentence[i]), 5),
            "bi": [round(float(x), 4) for x in bi],
            "window": [first, last],
        }
        if group.doc_of_file is not None:
            cand["doc"] = group.doc_of_file[passage.files[0]]
        if rank < PASSAGES_OF:
            full.append((rank, passage.text))
        if group.sentences and rank < SENTENCES_OF.get(group.name.split()[0], 5):
            sentence_texts += texts
            sentence_owner += [rank] * len(texts)
        cands.append(cand)
    for k, logit in enumerate(model.score(q.question, windows)):
        cands[k]["ce_w"] = round(float(logit), 4)
    for (rank, _), logit in zip(full, model.score(q.question, [t for _, t in full]), strict=True):
        cands[rank]["ce_p"] = round(float(logit), 4)
    if sentence_texts:
        for rank, logit in zip(sentence_owner, model.score(q.question, sentence_texts), strict=True):
            cands[rank].setdefault("ce_s", []).append(round(float(logit), 4))
    record = {
        "group": group.name,
        "split": group.split,
        "id": q.id,
        "question": q.question,
        "answers": list(q.answers),
        "sources": list(q.sources),
        "answerable": group.answerable,
        "lexical_confidence": round(c.lexical_confidence, 5),
        "max_best_sentence": round(float(c.best_sentence.max()) if len(c.best_sentence) else 0.0, 5),
        "candidates": cands,
    }
    if group.qrels is not None:
        record["qrels"] = group.qrels[q.id]
    return record


def collect(set_name: str, base: Settings) -> None:
    FEATURES_DIR.mkdir(parents=True, exist_ok=True)
    out_path = FEATURES_DIR / f"{set_name}.jsonl"
    done, seen = set(), set()
    if out_path.is_file():
        done = {(r["group"], r["split"], r["id"]) for r in map(json.loads, out_path.read_text().splitlines())}
    passages_path = FEATURES_DIR / f"{set_name}-passages.jsonl"
    if passages_path.is_file():
        seen = {json.loads(line)["key"] for line in passages_path.read_text().splitlines() if line.strip()}
    with out_path.open("a", encoding="utf-8") as fh, passages_path.open("a", encoding="utf-8") as passages_out:
        for group in SETS[set_name](base):
            todo = [q for q in group.questions if (group.name, group.split, q.id) not in done]
            print(f"{set_name}: {group.split} {group.name}: {len(todo)} of {len(group.questions)} to ask", file=sys.stderr, flush=True)
            for n, q in enumerate(todo):
                record = ask(group, q, seen, passages_out)
                passages_out.flush()
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                fh.flush()
                if n % 100 == 99:
                    print(f"  {n + 1}/{len(todo)}", file=sys.stderr, flush=True)


def load(set_name: str) -> tuple[list[dict], dict[str, dict]]:
    """Records and passages (by key) of a collected set."""
    records = [json.loads(line) for line in (FEATURES_DIR / f"{set_name}.jsonl").read_text().splitlines() if line.strip()]
    passages = {}
    for line in (FEATURES_DIR / f"{set_name}-passages.jsonl").read_text().splitlines():
        if line.strip():
            p = json.loads(line)
            passages[p["key"]] = p
    return records, passages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("collect",))
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    args = parser.parse_args(argv)
    base = Settings()
    for name in args.sets:
        collect(name, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def complete_sentences(set_name: str, configs, top: int = 3) -> None:
    """Sentence logits for the candidates that come first under any of `configs` (objects with
    .order(candidates)), where collect did not read them: var/studies/features/<set>-sentences.jsonl."""
    records, passages = load(set_name)
    out_path = FEATURES_DIR / f"{set_name}-sentences.jsonl"
    done = set()
    if out_path.is_file():
        done = {(r["group"], r["split"], r["id"], r["key"]) for r in map(json.loads, out_path.read_text().splitlines())}
    model = get_reranker(Settings().reranker)
    with out_path.open("a", encoding="utf-8") as fh:
        for r in records:
            wanted = {i for config in configs for i in config.order(r["candidates"])[:top]}
            for i in sorted(wanted):
                c = r["candidates"][i]
                if c.get("ce_s") or (r["group"], r["split"], r["id"], c["key"]) in done:
                    continue
                p = passages[c["key"]]
                texts = [p["text"][a:b] for a, b in p["sentences"]]
                logits = [round(float(x), 4) for x in model.score(r["question"], texts)] if texts else []
                fh.write(json.dumps({"group": r["group"], "split": r["split"], "id": r["id"], "key": c["key"], "ce_s": logits}) + "\n")
                fh.flush()


def load_with_sentences(set_name: str) -> tuple[list[dict], dict[str, dict]]:
    """load(), with the sentence logits of complete_sentences merged into their candidates."""
    records, passages = load(set_name)
    path = FEATURES_DIR / f"{set_name}-sentences.jsonl"
    if path.is_file():
        extra = {(e["group"], e["split"], e["id"], e["key"]): e["ce_s"] for e in map(json.loads, path.read_text().splitlines())}
        for r in records:
            for c in r["candidates"]:
                found = extra.get((r["group"], r["split"], r["id"], c["key"]))
                if found is not None and not c.get("ce_s"):
                    c["ce_s"] = found
    return records, passages
