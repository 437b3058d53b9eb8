"""`verbatim eval`: score the one search path on gold Q&A pairs, SQuAD and BEIR data.

Gold files run against the project's live index (rebuilt first if stale). SQuAD and BEIR data get a
temporary sources folder and index in a temporary directory, built by the same build code.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from index.config import Settings
from eval import metrics
from eval.datasets import (
    Document, GoldQuestion, load_beir, load_gold, load_paired_squad, load_squad, load_translated_squad, near_topic,
    shifts_held_out_ids, with_source_files,
)
from index.build.pipeline import build_index, index_is_current
from index.models.embed import get_embedder
from index.models.reader import reader_held_out_articles
from index.search import MODES, Answer, Searcher

GOLD_DIR = Path(__file__).resolve().parent / "gold"
RERANKED = "hybrid+rerank"  # hybrid retrieval, then the cross-encoder's second stage
EVAL_MODES = (RERANKED, *MODES)
PRIMARY_ORDER = (RERANKED, "hybrid", "dense", "lexical")
NEARTOPIC_PER_ARTICLE = 5  # paragraphs removed from each article (Random(0))


def default_mode(settings: Settings) -> str:
    """The eval label of what the settings answer with: "hybrid+rerank" when the second stage is on."""
    return RERANKED if settings.rerank and settings.mode == "hybrid" else settings.mode


def ask(searcher: Searcher, question: str, k: int, label: str) -> Answer:
    """Search as eval mode `label` says: a retriever, and "+rerank" for the second stage."""
    mode, _, second = label.partition("+")
    return searcher.search(question, k=k, mode=mode, rerank=second == "rerank")


@dataclass
class Miss:
    id: str
    question: str
    expected: str
    got: str


@dataclass
class ModeResult:
    metrics: dict[str, float]
    misses: list[Miss] = field(default_factory=list)


def default_gold_files() -> list[Path]:
    return sorted(GOLD_DIR.glob("*.jsonl"))


def _progress(items: list, label: str):
    """A progress bar on stderr for long runs (auto-off when stderr is not a terminal)."""
    if len(items) < 50:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="q", file=sys.stderr, disable=None, leave=False)


def score_questions(searcher: Searcher, questions: list[GoldQuestion], mode: str, k: int, label: str) -> ModeResult:
    """Ask every question in `mode`; hit@k, MRR, coverage, evidence, abstention, latency."""
    ranks: list[int | None] = []
    coverages: list[tuple[int, int]] = []
    evidence: list[bool] = []
    predicted_abstain: list[bool] = []
    should_abstain: list[bool] = []
    latencies: list[float] = []
    misses: list[Miss] = []
    spans: list[tuple[float, float]] = []  # (exact match, token F1) of the first hit's answer span
    said: list[bool] = []  # "what each source says" as the gold question expects it
    spans_right: list[bool] = []  # every span shown (in any passage): does it answer?
    lines_right: list[bool] = []  # every source line shown: does its span answer?
    read = False
    for q in _progress(questions, f"{label} {mode}"):
        answer: Answer = ask(searcher, q.question, k, mode)
        latencies.append(answer.fresh_ms)  # --mode all reuses an earlier mode's candidates for the same question
        predicted_abstain.append(answer.abstained)
        should_abstain.append(not q.answerable)
        if not answer.abstained:
            spans_right += [metrics.span_answers(h.answer.text, q.answers) or _line_right(h, q) for h in answer.hits if h.answer is not None]
            lines_right += [metrics.line_answers(x.citation.occurrence.file, x.text, q.answers, q.says) for x in answer.sources_say]
        if not q.answerable:
            if not answer.abstained:
                top = answer.hits[0].passage.text if answer.hits else ""
                misses.append(Miss(q.id, q.question, "(abstain)", top[:160]))
            continue
        if q.says is not None:
            lines = [(line.citation.occurrence.file, line.text) for line in answer.sources_say]
            said.append(metrics.sources_say_correct(lines, q.says))
            if not said[-1]:
                misses.append(Miss(q.id, q.question, "says: " + "; ".join(f"{f}: {'/'.join(v)}" for f, v in q.says), "; ".join(f"{f}: {t}" for f, t in lines) or "(no per-source lines)"))
        first_span = answer.hits[0].answer if answer.hits else None
        read = read or any(h.answer is not None for h in answer.hits)
        # No span (an abstention, or a first passage the reader says does not answer) scores 0.
        spans.append(metrics.span_scores(first_span.text if first_span else "", q.answers))
        passages = [(h.passage.text, h.passage.files) for h in answer.hits]
        hits = [metrics.is_hit(text, files, q.answers, q.sources) for text, files in passages]
        rank = metrics.first_hit_rank(hits)
        ranks.append(rank)
        if rank is not None:
            evidence.append(metrics.evidence_correct(answer.hits[rank - 1].evidence_text, q.answers))
        else:
            evidence.append(False)
            top = passages[0][0] if passages else ""
            misses.append(Miss(q.id, q.question, " | ".join(q.answers), top[:160]))
        total = len(metrics.distinct_answers(q.answers))
        if total > 1:
            # What a reader of five passages sees: source diversification works within the k asked for.
            top5 = answer.hits if k == 5 else ask(searcher, q.question, 5, mode).hits
            shown = [(h.passage.text, h.passage.files) for h in top5]
            coverages.append((metrics.answers_found(shown, q.answers, q.sources, 5), total))
    result = {
        "questions": float(len(questions)),
        "hit@1": metrics.hit_at_k(ranks, 1),
        "hit@3": metrics.hit_at_k(ranks, 3),
        "hit@5": metrics.hit_at_k(ranks, 5),
        "mrr": metrics.mrr_at_k(ranks, 10),
        "evidence": sum(evidence) / len(evidence) if evidence else 0.0,
        "p50_ms": metrics.percentile(latencies, 50),
        "p95_ms": metrics.percentile(latencies, 95),
    }
    if coverages:
        result["coverage@5"] = metrics.coverage(coverages)
    if read and said:
        result["sources_say"] = sum(said) / len(said)
    if read:
        # Precision before recall: the share of shown spans that answer, and of source lines that do not.
        result["shown_spans"] = float(len(spans_right))
        result["shown_precision"] = sum(spans_right) / len(spans_right) if spans_right else 1.0
        result["source_lines"] = float(len(lines_right))
        result["wrong_lines"] = (len(lines_right) - sum(lines_right)) / len(lines_right) if lines_right else 0.0
    if read and spans:
        result["span_em"] = sum(em for em, _ in spans) / len(spans)
        result["span_f1"] = sum(f1 for _, f1 in spans) / len(spans)
    if any(should_abstain):
        scores = metrics.abstention_scores(predicted_abstain, should_abstain)
        result |= {"abstain_p": scores.precision, "abstain_r": scores.recall, "abstain_f1": scores.f1}
    answered = [not a for a, s in zip(predicted_abstain, should_abstain) if not s]
    result["answered"] = sum(answered) / len(answered) if answered else 0.0
    return ModeResult(result, misses)


def _line_right(hit, q: GoldQuestion) -> bool:
    """A span in a passage of a source that has its own value for the question (119,000 in PISM's)."""
    return any(metrics.line_answers(c.occurrence.file, hit.answer.text, q.answers, q.says) for c in hit.citations) if q.says else False


def score_offcorpus(searcher: Searcher, questions: list[GoldQuestion], mode: str) -> ModeResult:
    """Questions about another corpus asked of this one: the share that abstains (should be ~1)."""
    abstained, latencies = [], []
    misses = []
    for q in _progress(questions, f"offcorpus {mode}"):
        answer = ask(searcher, q.question, 5, mode)
        latencies.append(answer.fresh_ms)
        abstained.append(answer.abstained)
        if not answer.abstained and answer.hits:
            misses.append(Miss(q.id, q.question, "(abstain)", answer.hits[0].passage.text[:160]))
    n = len(abstained) or 1
    return ModeResult(
        {"questions": float(len(abstained)), "abstained": sum(abstained) / n, "p95_ms": metrics.percentile(latencies, 95)},
        misses,
    )


def score_beir(searcher: Searcher, queries: dict[str, str], qrels: dict[str, dict[str, int]], mode: str, doc_of_file: dict[str, str]) -> ModeResult:
    """nDCG@10 and recall@100 over documents (passages mapped back to the document they came from)."""
    ndcgs, recalls, latencies = [], [], []
    for qid in _progress(sorted(qrels), f"beir {mode}"):
        answer = ask(searcher, queries[qid], 100, mode)
        latencies.append(answer.fresh_ms)
        ranked = [doc_of_file[h.passage.files[0]] for h in answer.hits]
        ndcgs.append(metrics.ndcg_at_k(ranked, qrels[qid], 10))
        recalls.append(metrics.recall_at_k(ranked, qrels[qid], 100))
    n = len(ndcgs) or 1
    return ModeResult(
        {
            "queries": float(len(ndcgs)),
            "ndcg@10": sum(ndcgs) / n,
            "recall@100": sum(recalls) / n,
            "p50_ms": metrics.percentile(latencies, 50),
            "p95_ms": metrics.percentile(latencies, 95),
        }
    )


def score_neartopic(removed: Searcher, present: Searcher, questions: list[GoldQuestion], mode: str) -> ModeResult:
    """Questions whose paragraph was removed: the share that abstains without it, and answered (and
    hit@5) with it present."""
    abstained, answered, ranks, misses = [], [], [], []
    for q in _progress(questions, f"neartopic {mode}"):
        without = ask(removed, q.question, 5, mode)
        abstained.append(without.abstained)
        if not without.abstained and without.hits:
            misses.append(Miss(q.id, q.question, "(abstain)", without.hits[0].passage.text[:160]))
        with_it = ask(present, q.question, 5, mode)
        answered.append(not with_it.abstained)
        hits = [metrics.is_hit(h.passage.text, h.passage.files, q.answers, q.sources) for h in with_it.hits]
        ranks.append(metrics.first_hit_rank(hits))
    n = len(questions) or 1
    return ModeResult(
        {
            "questions": float(len(questions)),
            "abstained": sum(abstained) / n,
            "answered_present": sum(answered) / n,
            "hit@5_present": metrics.hit_at_k(ranks, 5),
        },
        misses,
    )


def held_out_documents(documents: list[Document]) -> list[str]:
    """The documents (SQuAD articles) that the shipped reader and decision were never fitted on, by name."""
    titles = set(reader_held_out_articles())
    return [d.name for d in documents if d.name.removesuffix(".txt") in titles]


def temporary_index(documents: list[Document], base: Settings, workdir: Path) -> tuple[Settings, dict[str, str]]:
    """Write documents as source files in `workdir` and index them there; file name -> doc name."""
    sources = workdir / "sources"
    sources.mkdir(parents=True)
    doc_of_file = {}
    for i, doc in enumerate(documents):
        name = f"{i:06d}.txt"
        (sources / name).write_text(doc.text, encoding="utf-8")
        doc_of_file[name] = doc.name
    settings = base.with_overrides(sources_dir=sources, index_dir=workdir / "index")
    report = build_index(settings, embedder=get_embedder(settings.model), full=True, progress=sys.stderr.isatty())
    print(f"  built a temporary index: {report.sources} documents, {report.passages} passages, {report.seconds:.1f}s", file=sys.stderr)
    return settings, doc_of_file


@dataclass
class EvalRun:
    """Results of a whole run: dataset -> mode -> metrics."""

    results: dict[str, dict[str, ModeResult]] = field(default_factory=dict)

    def summary_line(self, modes: list[str]) -> str:
        groups = []
        for dataset, by_mode in self.results.items():
            for mode in modes:
                if mode not in by_mode:
                    continue
                values = by_mode[mode].metrics
                label = dataset if len(modes) == 1 else f"{dataset}.{mode}"
                pairs = " ".join(f"{k}={_fmt(k, v)}" for k, v in values.items() if k not in ("questions", "queries", "p50_ms", "abstain_p", "abstain_r"))
                groups.append(f"{label} {pairs}")
        return " | ".join(groups)

    def to_json(self) -> dict:
        return {
            dataset: {
                mode: {"metrics": r.metrics, "misses": [m.__dict__ for m in r.misses]} for mode, r in by_mode.items()
            }
            for dataset, by_mode in self.results.items()
        }


def _fmt(name: str, value: float) -> str:
    return f"{value:.0f}" if name.endswith("_ms") or name in ("shown_spans", "source_lines") else f"{value:.3f}"


def print_report(run: EvalRun, modes: list[str], out=sys.stdout, max_misses: int = 25) -> None:
    for dataset, by_mode in run.results.items():
        names = list(dict.fromkeys(k for r in by_mode.values() for k in r.metrics))
        print(f"\n== {dataset}", file=out)
        print(f"{'metric':<14}" + "".join(f"{m:>10}" for m in modes), file=out)
        for name in names:
            row = "".join(
                f"{_fmt(name, by_mode[m].metrics[name]) if name in by_mode.get(m, ModeResult({})).metrics else '-':>10}"
                for m in modes
            )
            print(f"{name:<14}{row}", file=out)
        primary = next((m for m in PRIMARY_ORDER if m in by_mode), None)
        misses = by_mode[primary].misses if primary else []
        if misses:
            print(f"\nmissed in {primary} mode ({len(misses)}):", file=out)
            for miss in misses[:max_misses]:
                print(f"  {miss.id}: {miss.question}\n      expected: {miss.expected}\n      first:    {miss.got}", file=out)
            if len(misses) > max_misses:
                print(f"  … and {len(misses) - max_misses} more (see --json)", file=out)


def parse_floors(specs: Iterable[str]) -> list[tuple[str, float]]:
    floors = []
    for spec in specs:
        name, _, value = spec.partition("=")
        if not value:
            raise ValueError(f"--min takes METRIC=VALUE, e.g. gold.hit@1=0.8, not {spec!r}")
        floors.append((name.strip(), float(value)))
    return floors


def check_floors(run: EvalRun, floors: list[tuple[str, float]], modes: list[str]) -> list[str]:
    """Floors that were not met. Names: metric (primary mode of each dataset), dataset.metric, dataset.mode.metric."""
    failures = []
    primary = next(m for m in PRIMARY_ORDER if m in modes)
    for name, floor in floors:
        parts = name.split(".")
        targets = []
        for dataset in run.results:
            if len(parts) == 1:
                targets.append((dataset, primary, parts[0]))
            elif len(parts) == 2 and parts[0] == dataset:
                targets.append((dataset, primary, parts[1]))
            elif len(parts) == 3 and parts[0] == dataset:
                targets.append((dataset, parts[1], parts[2]))
        found = False
        for dataset, mode, metric in targets:
            value = run.results[dataset].get(mode, ModeResult({})).metrics.get(metric)
            if value is None:
                continue
            found = True
            if value < floor:
                failures.append(f"{dataset}.{mode}.{metric}={value:.3f} is below the floor {floor}")
        if not found:
            failures.append(f"no metric matches --min {name}")
    return failures


def paired_questions(squad: Path, questions_from: Path, max_articles: int | None) -> tuple[list[Document], list[GoldQuestion]]:
    """`questions_from`'s questions over `squad`'s paragraphs: paired by id (XQuAD), else, when no id pairs, by
    aligning each translated question with its original (SQuAD-es, whose ids are not those of
    squad-v2.0-dev-part1.json: eval.datasets.translated_pairs); which one is said on stderr."""
    try:
        documents, questions = load_paired_squad(squad, questions_from, max_articles=max_articles, only_paired=True)
        print(f"{len(questions):,} questions of {questions_from.name} paired by id with {squad.name}", file=sys.stderr)
    except ValueError:
        documents, questions = load_translated_squad(squad, questions_from)
        if max_articles is not None:
            documents = documents[:max_articles]
            kept = {d.name for d in documents}
            questions = [q for q in questions if set(q.sources) <= kept]
        print(
            f"no id of {questions_from.name} is in {squad.name}: {len(questions):,} of its questions paired with the originals "
            "they translate (by article title_en, then aligned), scored against the originals' answers", file=sys.stderr,
        )
    return documents, questions


def run_eval(
    settings: Settings,
    gold_files: list[Path] | None = None,
    squad: Path | None = None,
    beir: Path | None = None,
    modes: list[str] | None = None,
    k: int = 10,
    max_articles: int | None = None,
    max_docs: int | None = None,
    offcorpus: Path | None = None,
    neartopic: Path | None = None,
    heldout_only: bool = False,
    questions_from: Path | None = None,
) -> EvalRun:
    """Run every requested dataset in every requested mode through the one search path. With `questions_from`,
    SQuAD's questions are that file's, paired with `squad`'s paragraphs and answers by id (XQuAD, SQuAD-es)."""
    modes = modes or [settings.mode]
    run = EvalRun()
    if gold_files is None:
        gold_files = [] if (squad or beir or offcorpus or neartopic) else default_gold_files()
    if gold_files or offcorpus:
        if not index_is_current(settings):
            print(f"index in {settings.index_dir} is missing or stale: building", file=sys.stderr)
            build_index(settings, progress=sys.stderr.isatty())
        searcher = Searcher(settings)
    if gold_files:
        questions = [q for path in gold_files for q in load_gold(path)]
        run.results["gold"] = {m: score_questions(searcher, questions, m, k, "gold") for m in modes}
    if offcorpus:
        documents, questions = load_squad(offcorpus, max_articles=max_articles)
        if heldout_only:
            held = set(held_out_documents(documents))
            questions = [q for q in questions if set(q.sources) <= held]
        run.results["offcorpus"] = {m: score_offcorpus(searcher, questions, m) for m in modes}
    if squad:
        if questions_from:
            documents, questions = paired_questions(squad, questions_from, max_articles)
        else:
            documents, questions = load_squad(squad, max_articles=max_articles)
        with tempfile.TemporaryDirectory(prefix="verbatim-squad-") as tmp:
            temp_settings, doc_of_file = temporary_index(documents, settings, Path(tmp))
            file_of_doc = {v: k for k, v in doc_of_file.items()}
            held = held_out_documents(documents)
            # SQuADShifts: its held-out texts are whole articles or single Reddit comments, told by question id.
            held_ids = shifts_held_out_ids(squad)
            questions = with_source_files(questions, file_of_doc)
            searcher = Searcher(temp_settings)
            if not heldout_only:
                run.results["squad"] = {m: score_questions(searcher, questions, m, k, "squad") for m in modes}
            if held or held_ids:
                # The same questions, asked again of the same Searcher (its kept readings make it cheap), on the
                # texts the reader and the decision never saw.
                files = {file_of_doc[name] for name in held}
                kept = [q for q in questions if (q.id in held_ids if held_ids else set(q.sources) <= files)]
                run.results["squad_heldout"] = {m: score_questions(searcher, kept, m, k, "squad_heldout") for m in modes}
    if neartopic:
        split = near_topic(neartopic, seed=0, per_article=NEARTOPIC_PER_ARTICLE, max_articles=max_articles)
        with tempfile.TemporaryDirectory(prefix="verbatim-neartopic-") as tmp:
            present_settings, doc_of_file = temporary_index(split.present, settings, Path(tmp) / "present")
            removed_settings, _ = temporary_index(split.removed, settings, Path(tmp) / "removed")
            file_of_doc = {v: k for k, v in doc_of_file.items()}
            questions = with_source_files(split.questions, file_of_doc)
            removed, present = Searcher(removed_settings), Searcher(present_settings)
            run.results["neartopic"] = {m: score_neartopic(removed, present, questions, m) for m in modes}
    if beir:
        data = load_beir(beir, max_docs=max_docs)
        with tempfile.TemporaryDirectory(prefix="verbatim-beir-") as tmp:
            temp_settings, doc_of_file = temporary_index(data.documents, settings, Path(tmp))
            searcher = Searcher(temp_settings)
            run.results["beir"] = {m: score_beir(searcher, data.queries, data.qrels, m, doc_of_file) for m in modes}
    return run


def main(args) -> int:
    """The `verbatim eval` subcommand (arguments parsed by app.cli)."""
    settings = Settings.from_args(args)
    if getattr(args, "questions_from", None) and not args.squad:
        print("error: --questions-from needs --squad: the paragraphs and answers its questions are paired with", file=sys.stderr)
        return 2
    # "all" is every retriever, and the second stage over hybrid unless --no-rerank says otherwise.
    every = [m for m in EVAL_MODES if settings.rerank or m != RERANKED]
    modes = every if args.mode == "all" else [args.mode or default_mode(settings)]
    modes = sorted(modes, key=PRIMARY_ORDER.index)
    floors = parse_floors(args.min or [])
    run = run_eval(
        settings,
        gold_files=args.gold,
        squad=args.squad,
        beir=args.beir,
        modes=modes,
        k=args.k,
        max_articles=args.max_articles,
        max_docs=args.max_docs,
        offcorpus=args.offcorpus,
        neartopic=getattr(args, "neartopic", None),
        heldout_only=getattr(args, "heldout_only", False),
        questions_from=getattr(args, "questions_from", None),
    )
    print_report(run, modes)
    if args.json:
        Path(args.json).write_text(json.dumps(run.to_json(), indent=2), encoding="utf-8")
    failures = check_floors(run, floors, modes)
    for failure in failures:
        print(f"FLOOR: {failure}", file=sys.stderr)
    print(run.summary_line(modes))
    return 1 if failures else 0
