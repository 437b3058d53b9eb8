"""`verbatim eval` end to end: gold floors on the bundled index, SQuAD and BEIR slices made here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eval.datasets import load_gold
from eval.metrics import normalize_for_match
from eval.run import check_floors, default_gold_files, parse_floors, run_eval
from index.storage.store import load_version

from conftest import ROOT, cli_env

# Measured on the bundled corpus with reranking (see README "Quality"); set just under, so a regression fails.
# Precision before recall (issue 32): a span is shown only when the gate fitted on this reader is confident.
# The reader trained on 41,396 examples (2026-12-06 night) shows 57 spans on gold, 0.912 of them right
# (span_em 0.120 -> 0.216), no wrong source line, and abstains better (abstain_f1 0.512 -> 0.587). Its second
# stage (2026-12-07) with the gate refitted shows 50, 0.960 right (span_em 0.198, span_f1 0.244).
GOLD_FLOORS = ["hit@1=0.86", "hit@5=0.93", "mrr=0.89", "evidence=0.85", "coverage@5=0.88", "answered=0.94", "abstain_f1=0.56",
               "span_em=0.19", "span_f1=0.24", "sources_say=0.50", "shown_precision=0.93"]


def test_gold_file_is_well_formed_and_answers_occur_in_sources(bundled_settings):
    index = load_version(bundled_settings.index_dir)
    texts = {name: normalize_for_match(rec.text) for name, rec in index.sources.items()}
    questions = [q for path in default_gold_files() for q in load_gold(path)]
    assert len(questions) >= 80
    assert sum(1 for q in questions if not q.answerable) >= 10
    assert sum(1 for q in questions if len(q.answers) > 1) >= 8
    assert {s for q in questions for s in q.sources} == set(texts)
    for q in questions:
        for answer in q.answers:
            assert any(normalize_for_match(answer) in texts[s] for s in q.sources), (q.id, answer)
        for source in q.sources:
            assert any(normalize_for_match(a) in texts[source] for a in q.answers), (q.id, source)


@pytest.mark.slow
def test_gold_eval_meets_its_floors(bundled_settings, tmp_path, capsys):
    # In this process (the session's model and index files are loaded already); the command line,
    # exit code and floors are those of `verbatim eval`.
    from app.cli import main as cli_main

    paths = ["--sources-dir", str(bundled_settings.sources_dir), "--index-dir", str(bundled_settings.index_dir)]
    code = cli_main(["eval", *paths, "--json", str(tmp_path / "gold.json")] + [arg for floor in GOLD_FLOORS for arg in ("--min", floor)])
    out, err = capsys.readouterr()
    assert code == 0, out[-3000:] + err[-3000:]
    last = out.strip().splitlines()[-1]
    assert last.startswith("gold hit@1=")
    numbers = json.loads((tmp_path / "gold.json").read_text())["gold"]["hybrid+rerank"]["metrics"]
    assert numbers["questions"] >= 80 and 0 < numbers["p95_ms"]
    assert numbers["wrong_lines"] == 0.0  # no source line whose span does not answer


def test_floors_fail_the_run(bundled_settings, tmp_path):
    """A floor that is not met makes the run exit 1 and says which (on a two-question gold file: the
    full set's floors are checked above)."""
    gold = tmp_path / "two.jsonl"
    gold.write_text("\n".join(line for line in (ROOT / "eval" / "gold" / "bundled.jsonl").read_text().splitlines()[:2]))
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "eval", "--gold", str(gold), "--min", "hit@1=1.01"],
        capture_output=True,
        text=True,
        env=cli_env(bundled_settings),
        timeout=600,
    )
    assert out.returncode == 1
    assert "below the floor" in out.stderr


def _squad_slice(path: Path) -> None:
    data = {
        "version": "1.1",
        "data": [
            {
                "title": "Rivers",
                "paragraphs": [
                    {
                        "context": "The Danube flows through ten countries. It ends in the Black Sea after 2,850 km.",
                        "qas": [
                            {"id": "r1", "question": "Where does the Danube end?", "answers": [{"text": "Black Sea", "answer_start": 0}]},
                            {"id": "r2", "question": "How long is the Danube?", "answers": [{"text": "2,850 km", "answer_start": 0}]},
                        ],
                    },
                    {
                        "context": "The Nile is often called the longest river. Its water feeds Egypt's farms.",
                        "qas": [{"id": "r3", "question": "Which river feeds Egypt's farms?", "answers": [{"text": "The Nile", "answer_start": 0}]}],
                    },
                ],
            },
            {
                "title": "Baking",
                "paragraphs": [
                    {
                        "context": "Sourdough bread rises with wild yeast. Bakers keep a starter fed with flour and water.",
                        "qas": [{"id": "b1", "question": "What makes sourdough rise?", "answers": [{"text": "wild yeast", "answer_start": 0}]}],
                    }
                ],
            },
        ],
    }
    path.write_text(json.dumps(data))


def test_squad_slice(tmp_path, bundled_settings):
    squad = tmp_path / "squad.json"
    _squad_slice(squad)
    run = run_eval(bundled_settings, squad=squad, modes=["hybrid", "dense", "lexical"], k=5)
    assert set(run.results) == {"squad"}
    for mode in ("hybrid", "dense", "lexical"):
        values = run.results["squad"][mode].metrics
        assert values["questions"] == 4
        assert values["hit@5"] == 1.0  # four passages only: every answer is in the top 5
    assert run.results["squad"]["hybrid"].metrics["hit@1"] >= 0.75
    # The main index is untouched.
    assert load_version(bundled_settings.index_dir).manifest.passage_count > 50


def test_beir_slice(tmp_path, bundled_settings):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    docs = [
        ("d1", "Coffee", "Coffee is brewed from roasted beans of the coffee plant."),
        ("d2", "Tea", "Green tea is made from unoxidized leaves."),
        ("d3", "Volcano", "A volcano erupts when magma reaches the surface."),
        ("d4", "Espresso", "Espresso is coffee brewed by forcing hot water through finely ground beans."),
    ]
    (beir / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in docs))
    (beir / "queries.jsonl").write_text(
        "\n".join(json.dumps(q) for q in [{"_id": "q1", "text": "how is coffee brewed"}, {"_id": "q2", "text": "why do volcanoes erupt"}])
    )
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td4\t1\nq2\td3\t1\n")
    run = run_eval(bundled_settings, beir=beir, modes=["hybrid", "dense"], k=10)
    for mode in ("hybrid", "dense"):
        values = run.results["beir"][mode].metrics
        assert values["queries"] == 2
        assert values["recall@100"] == 1.0
        assert values["ndcg@10"] > 0.9


def test_floor_parsing_and_checking():
    from eval.run import EvalRun, ModeResult

    run = EvalRun({"gold": {"hybrid": ModeResult({"hit@1": 0.8}), "dense": ModeResult({"hit@1": 0.6})}})
    assert check_floors(run, parse_floors(["hit@1=0.7"]), ["hybrid", "dense"]) == []
    assert check_floors(run, parse_floors(["gold.dense.hit@1=0.7"]), ["hybrid", "dense"]) == [
        "gold.dense.hit@1=0.600 is below the floor 0.7"
    ]
    assert check_floors(run, parse_floors(["nope=1"]), ["hybrid"]) == ["no metric matches --min nope"]
    with pytest.raises(ValueError):
        parse_floors(["hit@1"])


def test_neartopic_slice_and_modes_side_by_side(tmp_path, bundled_settings):
    squad = tmp_path / "squad.json"
    _squad_slice(squad)
    run = run_eval(bundled_settings, neartopic=squad, modes=["hybrid+rerank", "hybrid"], k=5)
    for mode in ("hybrid+rerank", "hybrid"):
        values = run.results["neartopic"][mode].metrics
        # One Rivers paragraph is removed: its questions (about the Danube or the Nile) lose their answer.
        assert values["questions"] >= 1
        assert 0 <= values["abstained"] <= 1 and 0 <= values["answered_present"] <= 1
        assert values["hit@5_present"] == 1.0  # three passages only: the answer is always shown
