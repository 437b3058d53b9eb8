"""The trained reader: verbatim answer spans, what each source says, a tampered model refused, and the
training command run end to end on a tiny sample."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import main as cli_main
from app.present import answer_to_dicts, answer_to_html, answer_to_markdown, answer_to_text
from eval.datasets import BENCHMARKS
from index.build.pipeline import build_index
from index.models.model_files import ModelFileError
from index.models.reader import MULTILINGUAL_READER_DIR, READER_DIR, READER_ENV, AnswerSpan, Reader, best_span, get_reader, reader_files, whole_words
from index.search import Searcher
from index.search.records import Citation, Hit
from index.search.sources_say import sources_say
from ingest.records import Occurrence, Passage, SourceMeta, Span

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_reader_is_verified_and_small():
    files = reader_files(READER_DIR)
    assert files.state == "sha256 verified"
    assert set(files.files) == {"model.onnx", "tokenizer.json"}
    assert (READER_DIR / "model.onnx").stat().st_size <= 40 * 1024 * 1024
    card = (READER_DIR / "README.md").read_text(encoding="utf-8")
    for needed in ("ms-marco-MiniLM-L-12-v2", "Apache-2.0", "CC BY-SA 4.0", "python -m eval.studies.train_reader", "Held-out"):
        assert needed in card


def test_spans_are_verbatim_whole_words_of_the_text():
    reader = get_reader()
    text = (
        "The prison population of Arcadia reached 41,200 people in 2023, according to the ministry. "
        "The new prison in Port Vell, opened by governor Elena Marquez, holds 9,000 inmates."
    )
    for question in ("How many people were in prison in Arcadia in 2023?", "Who opened the new prison in Port Vell?", "What colour is the sky?"):
        span = reader.read_one(question, text)
        assert text[span.start : span.end] == span.text
        assert span.start == whole_words(text, span.start, span.end)[0] and span.end == whole_words(text, span.start, span.end)[1]
    assert "41,200" in reader.read_one("How many people were in prison in Arcadia in 2023?", text).text
    assert "Marquez" in reader.read_one("Who opened the new prison in Port Vell?", text).text


def test_passages_read_side_by_side_give_the_spans_of_one_at_a_time():
    reader = Reader(READER_DIR, threads=2)  # two passages at a time, whatever the machine's cores
    assert reader.workers == 2
    texts = [
        "The prison population of Arcadia reached 41,200 people in 2023, according to the ministry.",
        "The new prison in Port Vell, opened by governor Elena Marquez, holds 9,000 inmates.",
        "Arcadia's emergency decree was extended 17 times, most recently in May.",
        "Critics say the courts of Port Vell hear up to 500 defendants in one session.",
    ]
    question = "How many inmates does the new prison hold?"
    assert reader.read(question, texts) == [reader.read_one(question, text) for text in texts]


def test_best_span_stays_in_the_passage_and_within_length():
    import numpy as np

    start = np.array([5.0, 0, 0, 9, 0, 0, 0])
    end = np.array([5.0, 0, 0, 0, 0, 8, 0])
    assert best_span(start, end, [2, 3, 4, 5], max_tokens=30)[:2] == (3, 5)
    assert best_span(start, end, [2, 3, 4, 5], max_tokens=2)[:2] != (3, 5)  # 3 pieces is too long
    assert best_span(start, end, [], max_tokens=30)[2] == float("-inf")


def test_answers_of_the_bundled_corpus_mark_a_span_inside_the_evidence(bundled_settings):
    searcher = Searcher(bundled_settings)
    # A span is marked only where the span gate is confident (index/search/span_check.py): this one it is.
    answer = searcher.search("How many times has the state of emergency in El Salvador been extended?")
    assert not answer.abstained
    marked = [h for h in answer.hits if h.answer is not None]
    assert marked, "no passage got an answer span"
    for hit in marked:
        assert hit.passage.text[hit.answer.start : hit.answer.end] == hit.answer.text
        assert any(s.start <= hit.answer.start and hit.answer.end <= s.end for s in hit.evidence)
    record = answer_to_dicts(answer)[0]
    if record["answer"]:
        assert record["text"][record["answer"]["start"] : record["answer"]["end"]] == record["answer"]["text"]
    assert '<strong class="vb-answer">' in answer_to_html(answer)
    assert "⟦" in answer_to_text(answer) and "Answer: \"" in answer_to_markdown(answer)


def _hit(file: str, text: str, answer: str | None) -> Hit:
    meta = SourceMeta(file=file, title=f"Report {file}", date="2025-01-01")
    passage = Passage(len(file), text, (Span(0, len(text)),), (Occurrence(file, 0, len(text), 1),))
    span = None
    if answer is not None:
        at = text.index(answer)
        span = AnswerSpan(at, at + len(answer), answer, 5.0, 0.0, 3.0)
    return Hit(passage, 1.0, 0.5, 0.5, passage.sentences, (Citation(meta, passage.occurrences[0]),), span)


def test_sources_say_lists_each_source_only_when_they_differ():
    differ = (_hit("a.txt", "It holds 119,000 prisoners.", "119,000"), _hit("b.txt", "It holds 77,000 prisoners.", "77,000"),
              _hit("a.txt", "Also 119,000 here.", "119,000"), _hit("c.txt", "No figure here.", None))
    lines = sources_say(differ)
    assert [(line.citation.occurrence.file, line.text, line.rank) for line in lines] == [("a.txt", "119,000", 1), ("b.txt", "77,000", 2)]
    agree = (_hit("a.txt", "It holds 119,000 prisoners.", "119,000"), _hit("b.txt", "Some 119,000 prisoners.", "119,000"))
    assert sources_say(agree) == ()
    assert sources_say(differ[:1]) == ()


CONFLICT = {
    "harbour-survey.txt": "Harbour survey of Port Vell, 2021.\n\nThe harbour survey counted 412 fishing boats moored in Port Vell "
    "in the spring of 2021. Most of them were small wooden boats.\n",
    "fisheries-census.txt": "Fisheries census of Port Vell, 2023.\n\nThe fisheries census counted 388 fishing boats moored in Port Vell "
    "in the spring of 2023. Many owners had sold their boats.\n",
}
QUESTION = "How many fishing boats were moored in Port Vell?"


def _answer_of(tmp_path: Path, embedder, texts: dict[str, str], settings):
    sources = tmp_path / "sources"
    sources.mkdir()
    for name, text in texts.items():
        (sources / name).write_text(text, encoding="utf-8")
    local = settings.with_overrides(sources_dir=sources, index_dir=tmp_path / "index")
    build_index(local, embedder=embedder, full=True)
    return Searcher(local).search(QUESTION), local


def test_a_two_source_conflict_opens_with_one_line_per_source(tmp_path, embedder, bundled_settings, capsys):
    answer, local = _answer_of(tmp_path, embedder, CONFLICT, bundled_settings)
    assert not answer.abstained
    said = {line.citation.occurrence.file: line.text for line in answer.sources_say}
    # Lines are shown only for spans the span gate is confident in: with today's reader these two are not
    # (P = 0.44 and 0.52 against 0.62), so there may be none; any line shown is its own source's figure.
    assert set(said) in (set(), set(CONFLICT))
    assert "412" in said.get("harbour-survey.txt", "412") and "388" in said.get("fisheries-census.txt", "388")
    for line in answer.sources_say:
        assert line.text in answer.hits[line.rank - 1].passage.text
    common = ["--sources-dir", str(local.sources_dir), "--index-dir", str(local.index_dir)]
    assert cli_main(["ask", *common, QUESTION]) == 0
    assert ("What each source says:" in capsys.readouterr().out) == bool(said)
    assert cli_main(["ask", *common, "--markdown", QUESTION]) == 0
    assert ("**What each source says:**" in capsys.readouterr().out) == bool(said)
    assert cli_main(["ask", *common, "--json", QUESTION]) == 0
    records = json.loads(capsys.readouterr().out)
    assert sorted(line["source"] for r in records for line in r["source_says"]) == sorted(said)


def test_sources_that_agree_get_no_per_source_lines(tmp_path, embedder, bundled_settings):
    agree = {name: text.replace("388", "412").replace("2023", "2021") for name, text in CONFLICT.items()}
    answer, _ = _answer_of(tmp_path, embedder, agree, bundled_settings)
    assert not answer.abstained and answer.sources_say == ()


def test_a_tampered_reader_is_refused_with_one_line_naming_the_fix(tmp_path, bundled_settings, capsys, monkeypatch):
    folder = tmp_path / "reader"
    shutil.copytree(READER_DIR, folder)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="git checkout -- index/models/trained/reader"):
        Reader(folder)
    assert "damaged" in reader_files(folder).state
    monkeypatch.setenv(READER_ENV, str(folder))
    common = ["--sources-dir", str(bundled_settings.sources_dir), "--index-dir", str(bundled_settings.index_dir)]
    assert cli_main(["ask", *common, "How many people are in prison in El Salvador?"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "git checkout -- index/models/trained/reader" in err
    assert cli_main(["ask", *common, "--no-read", "How many people are in prison in El Salvador?"]) == 0


def _train(out: Path, work: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "eval.studies.train_reader", "--sample", "24", "--epochs", "1", "--batch", "8",
               "--out", str(out), "--work", str(work), *extra]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.slow
@pytest.mark.skipif(not (BENCHMARKS / "squad-v2.0-dev-part1.json").exists(), reason="no benchmark data: set $VERBATIM_BENCHMARKS")
def test_the_training_command_runs_end_to_end_and_resumes(tmp_path):
    """Interrupted after one step and run again, it resumes and ends with the weights of an uninterrupted run."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    _train(whole / "out", whole / "work", "--weights-only")  # the baseline's weights; the export is checked below
    stopped = _train(parts / "out", parts / "work", "--stop-after", "1")
    assert "stopped after step 1" in stopped.stderr and not (parts / "out" / "model.onnx").exists()
    resumed = _train(parts / "out", parts / "work")
    assert "resuming at step 1" in resumed.stderr
    from safetensors.numpy import load_file

    a, b = load_file(str(whole / "work" / "final" / "model.safetensors")), load_file(str(parts / "work" / "final" / "model.safetensors"))
    assert a.keys() == b.keys() and all(abs(a[k] - b[k]).max() <= 1e-6 for k in a)
    assert not (whole / "out" / "model.onnx").exists()
    card = json.loads((parts / "out" / "reader.json").read_text())
    assert card["held_out"] and card["files"]["model.onnx"] and card["held_out_articles"]
    assert (parts / "out" / "model.onnx").stat().st_size <= 40 * 1024 * 1024
    assert "python -m eval.studies.train_reader" in (parts / "out" / "README.md").read_text()
    span = Reader(parts / "out").read_one("Who wrote it?", "It was written by Ada Lovelace in 1843.")
    assert span.text == "It was written by Ada Lovelace in 1843."[span.start : span.end]


@pytest.mark.slow
@pytest.mark.skipif(not (BENCHMARKS / "squad-v2.0-dev-part1.json").exists(), reason="no benchmark data: set $VERBATIM_BENCHMARKS")
def test_a_second_stage_starts_from_the_shipped_readers_file(tmp_path):
    """`--init` a shipped int8 model.onnx: training goes on from its dequantized weights (heads included), and the
    checkpoint's digest names the file, so a resumed run cannot silently start from another."""
    from safetensors.numpy import load_file

    from eval.studies.dequantize_cross_encoder import dequantized_state

    _train(tmp_path / "out", tmp_path / "work", "--init", str(READER_DIR / "model.onnx"), "--steps", "1", "--lr", "1e-9", "--weights-only")
    after = load_file(str(tmp_path / "work" / "final" / "model.safetensors"))
    before = dequantized_state(READER_DIR / "model.onnx")
    for name in ("span.weight", "has_answer.bias", "bert.encoder.layer.11.output.dense.weight"):
        assert np.abs(after[name] - before[name]).max() < 1e-4


@pytest.mark.parametrize("folder", [READER_DIR, MULTILINGUAL_READER_DIR], ids=["english", "multilingual"])
def test_windows_are_exactly_the_tokenizers_libraries_own_truncation(folder):
    """reader.windows cuts pairs from the shared untruncated tokenizer; the readers were trained on the windows of
    the library's own "only_second" truncation with a stride, so every window must be that one: ids, segment ids,
    offsets and passage positions (passages long enough for several windows included)."""
    from tokenizers import Tokenizer

    from index.models.reader import window_tokenizer, windows

    card = json.loads((folder / "reader.json").read_text())
    library = Tokenizer.from_file(str(folder / "tokenizer.json"))
    library.no_padding()
    library.enable_truncation(card["max_tokens"], stride=card["stride"], strategy="only_second")
    shared = window_tokenizer(str(folder / "tokenizer.json"), card["max_tokens"], card["stride"])
    text = (ROOT / "sources" / "pism-international-echoes-of-el-salvador-public-security-model.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if p.strip()][:12] + [text[:6000]]
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "gold" / "bundled.jsonl").read_text().splitlines()[:8]]
    questions.append("¿Cuántos presos hay en El Salvador, según el ministerio de seguridad y el informe de 2024? " * 3)  # cut at 64 pieces
    several = 0
    for question in questions:
        for paragraph in paragraphs:
            ours = windows(shared, question, paragraph)
            ids = library.encode(question, add_special_tokens=False).ids
            asked = library.decode(ids[:64]) if len(ids) > 64 else question
            whole = library.encode(asked, paragraph)
            theirs = [whole, *whole.overflowing]
            several += len(theirs) > 1
            assert len(ours) == len(theirs)
            for w, e in zip(ours, theirs):
                assert w.ids == e.ids and w.type_ids == e.type_ids and w.offsets == e.offsets
                assert w.context == [i for i, s in enumerate(e.sequence_ids) if s == 1]
    assert several >= len(questions)  # the long text always overflows


def test_the_encoders_truncation_is_the_tokenizers_librarys_own():
    """encode_truncated (the shared tokenizer, cut per call) gives what the library's truncation gives."""
    from tokenizers import Tokenizer

    from index.models import onnx_runtime

    path = MULTILINGUAL_READER_DIR / "tokenizer.json"
    library = Tokenizer.from_file(str(path))
    library.no_padding()
    library.enable_truncation(64)
    text = (ROOT / "sources" / "pism-international-echoes-of-el-salvador-public-security-model.txt").read_text(encoding="utf-8")
    texts = ["query: ¿Cuándo abrió el CECOT?", "passage: " + text[:3000], text[:100]]
    for ours, theirs in zip(onnx_runtime.encode_truncated(onnx_runtime.parsed_tokenizer(str(path)), texts, 64), library.encode_batch(texts)):
        assert ours.ids == theirs.ids and ours.offsets == theirs.offsets and ours.attention_mask == theirs.attention_mask
    assert onnx_runtime.parsed_tokenizer(str(path)) is onnx_runtime.parsed_tokenizer(str(path.resolve()))  # one parse per file


def test_a_later_stages_card_names_every_stage_before_it(tmp_path):
    """A stage started from a shipped reader lists that reader's own earlier stages, then its run (oldest first)."""
    from argparse import Namespace

    from eval.studies.train_reader import earlier_stages

    trained = json.loads((READER_DIR / "reader.json").read_text())["trained"]
    stages = earlier_stages(Namespace(init=str(READER_DIR / "model.onnx")))
    assert len(stages) >= 2 and stages[-1] == {"steps": trained["steps"], "minutes": trained["minutes"], "mix": trained["mix"]}
    assert all(stage["steps"] > 0 and stage["minutes"] > 0 for stage in stages)
    assert earlier_stages(Namespace(init=None)) == [] and earlier_stages(Namespace(init=str(tmp_path / "model.onnx"))) == []


@pytest.mark.skipif(not (BENCHMARKS / "squad-v2.0-dev-part1.json").exists(), reason="no benchmark data: set $VERBATIM_BENCHMARKS")
def test_mined_negatives_are_the_readers_confident_mistakes_and_a_run_resumes(tmp_path):
    """mine_negatives keeps other paragraphs (no gold answer in them) where the shipped reader prefers a span to
    "no answer"; a second run reads only questions the first did not; training reads them as kind `mined`."""
    from eval.studies.mine_negatives import mine, training_questions
    from eval.studies.reader_data import mined_negatives

    out = tmp_path / "negatives.jsonl"
    first = mine(out, limit=12)
    assert first["questions"] == 12 and first["paragraphs"] > 0
    again = mine(out, limit=15)
    assert again["questions"] == 3  # the first 12 are not read again
    header, *rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert header["reader"] == get_reader().sha256
    asked = {q.qid: q for q in training_questions()[:15]}
    assert {r.get("question_id", r["qid"]) for r in rows} == set(asked)
    kept = [r for r in rows if r["kept"]]
    for r in kept:
        q = asked[r["question_id"]]
        assert r["context"] in q.paragraphs and r["context"] != q.paragraphs[q.paragraph]
        assert not any(a.lower() in r["context"].lower() for a in q.answers)
        assert r["margin"] >= 0 and r["span"] in r["context"]
    examples = mined_negatives(out)
    assert len(examples) == len(kept) and all(e.kind == "mined" and e.answer_start is None for e in examples)
    squad = mined_negatives(out, ("squad",))  # a source filter (hand checks: SQuAD's rows are the clean ones)
    assert [e.qid for e in squad] == [e.qid for e in examples if e.source == "squad"]


def test_contrary_questions_turn_against_their_own_paragraph():
    """A word the paragraph uses becomes its opposite the paragraph never uses, or a passive verb is negated
    where the paragraph negates nothing; never when the paragraph holds the opposite or the question negates."""
    import random

    from eval.studies.reader_data import Question, contrary

    def turned(question: str, paragraph: str) -> str | None:
        e = contrary(Question("q", "a", question, 0, (paragraph,), 0, "x", ("x",), "squad"), random.Random(0))
        assert e is None or (e.kind == "contrary" and e.answer_start is None and e.context == paragraph)
        return e.question if e else None

    assert turned("What is the largest city?", "Warsaw is the largest city.") == "What is the smallest city?"
    assert turned("What is the largest city?", "Warsaw is the largest city, Płock the smallest.") is None
    assert turned("What did the war begin with?", "The war began with a siege and ended in 1945.") is None  # "end" in "ended"
    assert turned("What grass has been used?", "I've used winter ryegrass.") == "What grass has not been used?"
    assert turned("What grass was used?", "Fescue was not used; ryegrass was used.") is None
    assert turned("What was not used?", "Ryegrass was used.") is None
    assert turned("What won't connect?", "My PS4 won't connect, though it won a prize.") is None  # "won't" is no "won"
    assert turned("Most of it goes where?", "Most of it goes to Asia.") == "Least of it goes where?"  # case kept


@pytest.mark.skipif(not (BENCHMARKS / "squad-v2.0-dev-part1.json").exists(), reason="no benchmark data: set $VERBATIM_BENCHMARKS")
def test_contrary_negatives_join_the_mix_and_repeat():
    from eval.studies.reader_data import Mix, counts, training_examples

    plain = counts(training_examples(Mix(negative_share=0.5), seed=1, sample=3000))
    once = counts(training_examples(Mix(negative_share=0.5, contrary=1), seed=1, sample=3000))
    thrice = counts(training_examples(Mix(negative_share=0.5, contrary=3), seed=1, sample=3000))
    assert plain["contrary"] == 0 and once["contrary"] > 100 and thrice["contrary"] == 3 * once["contrary"]
    assert thrice["answer"] == once["answer"] == plain["answer"]


@pytest.mark.skipif(not (BENCHMARKS / "squad-v2.0-dev-part1.json").exists(), reason="no benchmark data: set $VERBATIM_BENCHMARKS")
def test_the_negatives_study_builds_its_sets_from_held_out_articles_only():
    from eval.studies.negatives_study import SAMPLE, built_sets
    from eval.studies.reader_data import HELD_OUT_V1

    built = built_sets()
    assert {e.article for s in built.values() for e in s} <= set(HELD_OUT_V1)
    assert len(built["answerable"]) == len(built["perturbed"]) == SAMPLE and 100 < len(built["contrary"]) <= SAMPLE
    assert all(e.answer_start is not None for e in built["answerable"])
    assert all(e.answer_start is None and e.kind == name for name in ("contrary", "perturbed") for e in built[name])
