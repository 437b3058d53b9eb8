"""The cross-encoder second stage and the answerability decision, on the real packaged models."""

import dataclasses
import os
import shutil
import subprocess
import sys

import pytest

import index.search.pipeline
from index.search.answerability import MODEL_PATH, AnswerabilityModel, count_focus, counts, expected_type, has_type, shipped_model
from index.build.pipeline import build_index
from index.search.evidence import count_bonus
from index.config import DEFAULT_RERANKER, Settings
from index.models.model_files import MODELS_ENV, model_folder, models_dir
from index.models.onnx_runtime import length_batches
from index.models.rerank import get_reranker
from index.search import Searcher

from conftest import ROOT, cli_env

# A passage that repeats the question's words without answering, and one that answers in other words.
DISTRACTOR = (
    "Questions about the Eiffel Tower: how old is the Eiffel Tower, how tall is it compared with other towers, "
    "and who painted the Eiffel Tower?"
)
ANSWER = "Gustave Eiffel's iron tower on the Champ de Mars measures 330 metres from base to tip."


@pytest.fixture(scope="module")
def tower_settings(tmp_path_factory, embedder) -> Settings:
    sources = tmp_path_factory.mktemp("tower") / "sources"
    sources.mkdir()
    (sources / "guides.txt").write_text(DISTRACTOR + "\n", encoding="utf-8")
    (sources / "facts.txt").write_text(ANSWER + "\n", encoding="utf-8")
    settings = Settings(sources_dir=sources, index_dir=sources.parent / "index")
    build_index(settings, embedder=embedder, full=True)
    return settings


def test_reranker_changes_the_order_on_a_constructed_case(tower_settings):
    searcher = Searcher(tower_settings)
    fused = searcher.search("How tall is the Eiffel Tower?", k=2, rerank=False)
    reranked = searcher.search("How tall is the Eiffel Tower?", k=2, rerank=True)
    assert fused.hits[0].passage.text == DISTRACTOR  # words and cosine favour the distractor
    assert reranked.hits[0].passage.text == ANSWER  # the cross-encoder reads which one answers
    scores = get_reranker(DEFAULT_RERANKER).score("How tall is the Eiffel Tower?", [DISTRACTOR, ANSWER])
    assert scores[1] > scores[0]


def test_rerank_setting_from_environment_and_flags(monkeypatch):
    monkeypatch.setenv("VERBATIM_RERANK", "0")
    monkeypatch.setenv("VERBATIM_RERANKER", "some/cross-encoder")
    settings = Settings()
    assert settings.rerank is False and settings.reranker == "some/cross-encoder"
    from app.cli import build_parser

    args = build_parser().parse_args(["ask", "--rerank", "--reranker", "local/path", "question"])
    assert Settings.from_args(args).rerank is True and Settings.from_args(args).reranker == "local/path"
    monkeypatch.setenv("VERBATIM_RERANK", "maybe")
    with pytest.raises(ValueError, match="VERBATIM_RERANK"):
        Settings()


def test_threads_setting_sizes_the_sessions_and_a_bad_value_is_said_at_start(monkeypatch, bundled_settings):
    import os

    from index.models import onnx_runtime
    from index.config import ConfigError, cpu_threads
    from index.models.rerank import OnnxCrossEncoder

    monkeypatch.delenv("VERBATIM_THREADS", raising=False)
    assert cpu_threads() == (os.cpu_count() or 1)
    monkeypatch.setenv("VERBATIM_THREADS", "3")
    assert cpu_threads() == onnx_runtime.serving_threads() == 3
    model = OnnxCrossEncoder(Settings().reranker)  # a real session, sized by the setting
    assert model._session.get_session_options().intra_op_num_threads == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("VERBATIM_THREADS", bad)
        with pytest.raises(ConfigError, match="VERBATIM_THREADS"):
            Settings()
    out = subprocess.run([sys.executable, "-m", "app.cli", "ask", "How many prisoners?"], env=cli_env(bundled_settings),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "VERBATIM_THREADS='-1'" in out.stderr and "Traceback" not in out.stderr


def test_answerability_json_loads_and_decides(bundled_settings, monkeypatch, tmp_path):
    model = AnswerabilityModel.load(MODEL_PATH)
    assert model.reranker == DEFAULT_RERANKER and model.features and 0 < model.threshold < 1
    searcher = Searcher(bundled_settings)
    answer = searcher.search("How many people are in prison in El Salvador?")
    assert answer.answerability == pytest.approx(shipped_model().probability(answer.signals))
    assert answer.abstained == (answer.answerability < model.threshold)
    # The decision is the JSON's: the same search with the threshold moved flips it.
    for threshold, abstains in ((0.0, False), (1.0, True)):
        path = tmp_path / f"model-{threshold}.json"
        path.write_text(dataclasses.replace(model, threshold=threshold).to_json())
        monkeypatch.setattr(index.search.pipeline, "shipped_model", lambda path=path: AnswerabilityModel.load(path))
        assert searcher.search("How many people are in prison in El Salvador?").abstained is abstains


def test_question_types():
    assert expected_type("How many people are in prison?") == "number"
    assert expected_type("When was CECOT opened?") == "date"
    assert expected_type("In what year was Bukele born?") == "date"
    assert expected_type("Who wrote the brief?") == "person"
    assert expected_type("Why did violence fall?") is None
    assert has_type("It holds 40,000 inmates.", "number", "")
    assert not has_type("It holds many inmates.", "number", "")
    assert has_type("It opened in January 2023.", "date", "")
    assert has_type("The brief was written by Juliana Rubio.", "person", "Who wrote the brief?")
    assert not has_type("The brief was written by an intern.", "person", "Who wrote the brief?")


@pytest.fixture()
def damaged_models(tmp_path):
    """This machine's models folder (linked file by file, so the index's encoder is still found) whose
    cross-encoder file has one byte flipped, in a copy of its own."""
    models = tmp_path / "models"
    shutil.copytree(models_dir(), models, symlinks=True, copy_function=os.symlink)
    folder = models / DEFAULT_RERANKER
    damaged = bytearray((model_folder(DEFAULT_RERANKER) / "model.onnx").read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (folder / "model.onnx").unlink()  # the link, never the machine's own file
    (folder / "model.onnx").write_bytes(bytes(damaged))
    return models


def _ask(settings, models, *args):
    env = cli_env(settings) | {MODELS_ENV: str(models)}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", "How many prisoners?", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )


def test_damaged_or_missing_reranker_file_is_one_clear_error(bundled_settings, damaged_models, monkeypatch):
    fix = f"verbatim models fetch {DEFAULT_RERANKER}"
    done = _ask(bundled_settings, damaged_models)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "damaged or not the published file" in done.stderr and fix in done.stderr
    (damaged_models / DEFAULT_RERANKER / "model.onnx").unlink()
    done = _ask(bundled_settings, damaged_models)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "is missing" in done.stderr and fix in done.stderr
    assert _ask(bundled_settings, damaged_models, "--no-rerank").returncode == 0  # the first stage does not need it
    # The web app replies with the same message instead of an answer.
    monkeypatch.setenv(MODELS_ENV, str(damaged_models))
    from app.web import make_app

    app = make_app(bundled_settings)
    ask = next(f.fn for f in app.fns.values() if f.api_name == "ask")
    reply = ask("How many prisoners?")
    assert reply["results"] == [] and "is missing" in reply["error"] and fix in reply["error"]


def test_prison_question_highlights_the_77000_sentence(bundled_settings):
    answer = Searcher(bundled_settings).search("How many people are in prison in El Salvador?")
    csis = next(h for h in answer.hits if h.passage.files[0].startswith("csis"))
    assert "77,000" in csis.evidence_text and "United States" not in csis.evidence_text


def test_count_focus_finds_the_sentence_that_counts_what_is_asked():
    assert count_focus("How many people are in prison in El Salvador?") == "people"
    assert count_focus("How many soldiers were deployed?") == "soldier"
    assert count_focus("What share of Salvadorans live in poverty?") is None
    assert counts("This has led to the incarceration of over 77,000 people.", "people")
    assert counts("Two million voters turned out.", "voter")
    # A comparison that mentions both a number and the noun, but does not count it, does not count.
    assert not counts("The United States has approximately 2.1 million incarcerated people.", "people")
    bonus = count_bonus("How many people are in prison?", ["It holds 77,000 people.", "People are held there."])
    assert bonus[0] > 0 and bonus[1] == 0


def test_length_batches_keep_short_inputs_apart_from_long_ones():
    lengths = [120, 110, 130, 256, 250, 100, 240] + [30] * 20
    batches = length_batches(lengths, 16, 1.5)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 16 and max(lengths[i] for i in b) <= 1.5 * min(lengths[i] for i in b)



def test_candidates_below_the_head_keep_the_fused_order(bundled_settings):
    searcher = Searcher(bundled_settings)
    question = "How many people are in prison in El Salvador?"
    fused = searcher.rank(question, "hybrid", rerank=False)
    reranked = searcher.rank(question, "hybrid", rerank=True)
    head = set(reranked.head.tolist())
    assert len(reranked.order) > len(head) and set(reranked.order[: len(head)]) == head
    assert reranked.order[len(head) :] == [i for i in fused.order if i not in head]
