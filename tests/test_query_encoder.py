"""Questions are encoded by the index's own ONNX export: the same vectors as sentence-transformers, no torch.

Every test that loads torch is in this module (the ONNX paths against sentence-transformers, and a
sentence-transformers cross-encoder through --reranker), so one test worker pays for loading it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.datasets import BENCHMARKS, load_gold, load_squad
from eval.run import default_gold_files
from index.config import Settings
from index.models.model_files import resolve_model, sha256_of
from index.models.model_store import blob_path
from index.models.onnx_encoder import OnnxEncoder
from index.models.onnx_export import exportable_spec
from index.models.query_encoder import open_query_encoder
from index.storage.store import load_version
from tests.conftest import ROOT, cli_env

SQUAD = BENCHMARKS / "squad-v1.1-dev-part1.json"
HARD = [
    "CECOT",
    "¿Cuántas personas están presas? 萨尔瓦多有多少囚犯？ 🙂",
    "What did the U.S. State Department say about the $7.77 billion budget and the 1.9% figure?",
    " ".join(["a very long question about prisons"] * 120),  # longer than the model reads: truncated alike
]


def real_questions() -> list[str]:
    questions = [q.question for path in default_gold_files() for q in load_gold(path)]
    if SQUAD.exists():
        _, squad = load_squad(SQUAD)
        questions += [q.question for q in squad[::20]]
    return questions + HARD


def test_index_names_its_onnx_encoder_with_checksums(bundled_settings):
    """The manifest names the encoder (model, export, each file's sha256); its files are in the models
    folder's shared store, not in the index (tests/test_lean_index.py has the rest)."""
    entry = load_version(bundled_settings.index_dir).manifest.query_encoder
    assert entry["kind"] == "onnx" and entry["spec"]["pooling"] == "mean" and entry["spec"]["max_tokens"] == 256
    assert entry["model"] == bundled_settings.model and entry["export"].startswith("all-MiniLM-L6-v2-")
    assert set(entry["files"]) == {"model.onnx", "tokenizer.json"} and "path" not in entry
    for sha256 in entry["files"].values():
        assert sha256_of(blob_path(sha256)) == sha256


@pytest.mark.skipif(not SQUAD.exists(), reason="no benchmark data (its SQuAD questions make the 300): set $VERBATIM_BENCHMARKS")
def test_onnx_vectors_equal_sentence_transformers_on_real_questions(bundled_settings, torch_embedder):
    embedder = torch_embedder
    index = load_version(bundled_settings.index_dir)
    onnx = open_query_encoder(bundled_settings.index_dir, index.manifest.query_encoder, bundled_settings.model)
    assert isinstance(onnx, OnnxEncoder)
    questions = real_questions()
    assert len(questions) >= 300
    # Batches of 8: the question of 256 word pieces pads only its own batch (at 64, 64 x 256 pieces: 2.6 s on torch).
    light, full = onnx.encode(questions), embedder.encode(questions, batch_size=8)
    assert light.shape == full.shape == (len(questions), embedder.dimension)
    assert float(np.min(np.sum(light * full, axis=1))) >= 0.9999
    assert float(np.max(np.abs(light - full))) < 1e-4


HEAVY = "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)\n"


def _fresh_interpreter(code: str, settings) -> dict:
    done = subprocess.run([sys.executable, "-c", code], env=cli_env(settings), cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_ask_imports_no_torch(bundled_settings):
    """`verbatim ask`, reranking on, in a fresh interpreter: torch, transformers and
    sentence-transformers are never imported."""
    code = (
        "import contextlib, io, json, sys\n"
        "from app.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    rc = main(['ask', '--json', 'How many people are in prison in El Salvador?'])\n"
        + HEAVY
        + "print(json.dumps({'rc': rc, 'heavy': heavy, 'results': len(json.loads(out.getvalue()))}))\n"
    )
    result = _fresh_interpreter(code, bundled_settings)
    assert result == {"rc": 0, "heavy": [], "results": 5}


def test_web_app_answers_without_torch(bundled_settings):
    """The web app as `verbatim serve` starts it answers a question through its HTTP API; still no torch."""
    code = (
        "import json, sys, threading\n"
        "from index.config import Settings\n"
        "from index.search import Searcher\n"
        "from tests.conftest import free_port\n"
        "searcher = Searcher(Settings())\n"
        "threading.Thread(target=searcher.warm, daemon=True).start()\n"
        "from app.web import serve\n"
        "port = free_port()\n"
        "serve(Settings(), port=port, searcher=searcher, prevent_thread_lock=True, quiet=True)\n"
        "from gradio_client import Client\n"
        "reply = Client(f'http://127.0.0.1:{port}/', verbose=False).predict('How many people are in prison in El Salvador?', 5, 'hybrid', api_name='/ask')\n"
        + HEAVY
        + "print(json.dumps({'heavy': heavy, 'results': len(reply['results'])}))\n"
    )
    result = _fresh_interpreter(code, bundled_settings)
    assert result == {"heavy": [], "results": 5}


def test_only_reproducible_pipelines_are_exported(tmp_path):
    source = Path(resolve_model(Settings().model))
    assert exportable_spec(source).pooling == "mean"
    copy = tmp_path / "model"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.safetensors"))
    config = json.loads((copy / "1_Pooling" / "config.json").read_text())
    (copy / "1_Pooling" / "config.json").write_text(json.dumps({**config, "pooling_mode_max_tokens": True}))
    assert exportable_spec(copy) is None
    (copy / "1_Pooling" / "config.json").write_text(json.dumps({**config, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    assert exportable_spec(copy).pooling == "cls"
    modules = json.loads((source / "modules.json").read_text())
    (copy / "modules.json").write_text(json.dumps(modules[:2]))  # no Normalize step
    assert exportable_spec(copy) is None
    assert exportable_spec(tmp_path / "missing") is None


# ---------------------------------------------------------------- builds on the export


def test_builds_embed_with_the_export_and_get_the_torch_vectors(bundled_settings, embedder, torch_embedder):
    """A build's passage and sentence vectors and its word-piece counts: the same from the ONNX export
    (what `make setup` leaves builds to use) as from sentence-transformers."""
    assert isinstance(embedder, OnnxEncoder) and embedder.export is not None, "make setup exports the model"
    passages = load_version(bundled_settings.index_dir).passages
    texts = [p.text for p in passages]
    spans = [[(s.start, s.end) for s in p.sentences] for p in passages]
    light, light_sentences = embedder.encode_passages(texts, spans, batch_size=16)
    full, full_sentences = torch_embedder.encode_passages(texts, spans, batch_size=64)
    assert float(np.min(np.sum(light * full, axis=1))) >= 0.9999
    rows_light, rows_full = np.concatenate(light_sentences), np.concatenate(full_sentences)
    assert rows_light.shape == rows_full.shape == (sum(map(len, spans)), embedder.dimension)
    assert float(np.min(np.sum(rows_light * rows_full, axis=1))) >= 0.9999
    # Word pieces, which decide where passages are cut: the model tokenizer's own counts (its transformers
    # call), from the Rust tokenizer of either embedder; thousands of pieces counted whole, never truncated.
    long_text = " ".join(texts)
    sample = [p.text[s.start : s.end] for p in passages for s in p.sentences] + [long_text, "", "x" * 3000, "Café déjà vu: Dr. Müller"] + HARD
    tokenizer = torch_embedder._tokenizer
    expected = [len(ids) for ids in tokenizer(sample, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]]
    assert embedder.count_tokens(sample) == torch_embedder.count_tokens(sample) == expected
    assert expected[-len(HARD) - 4] > 2000


def test_a_build_imports_no_torch_when_the_export_exists(indexed_copy):
    """`verbatim build --full` in a fresh interpreter: embedded, indexed, live; torch never imported."""
    code = (
        "import contextlib, io, json, sys\n"
        "from app.cli import main\n"
        "rc = main(['build', '--full'])\n"
        + HEAVY
        + "print(json.dumps({'rc': rc, 'heavy': heavy}))\n"
    )
    before = load_version(indexed_copy.index_dir)
    assert _fresh_interpreter(code, indexed_copy) == {"rc": 0, "heavy": []}
    after = load_version(indexed_copy.index_dir)
    assert after.path != before.path and after.manifest.query_encoder == before.manifest.query_encoder
    assert [p.text for p in after.passages] == [p.text for p in before.passages]


def test_a_damaged_export_stops_a_build_with_the_fix_and_models_fetch_repairs_it(indexed_copy, tmp_path, monkeypatch):
    from app.cli import _export_embedding_model
    from index.models.onnx_export import cached_export

    folder, _ = cached_export(indexed_copy.model)
    models = tmp_path / "models"
    shutil.copytree(folder.parent.parent, models, ignore=shutil.ignore_patterns("*-int8"))
    for packaged in folder.parent.parent.glob("*-int8"):
        (models / packaged.name).symlink_to(packaged)  # the packaged models, untouched
    damaged = models / "exports" / folder.name / "model.onnx"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 3] ^= 0xFF
    damaged.write_bytes(bytes(data))
    env = {**cli_env(indexed_copy), "VERBATIM_MODELS_DIR": str(models)}
    before = load_version(indexed_copy.index_dir).path
    done = subprocess.run([sys.executable, "-m", "app.cli", "build", "--full"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "damaged or not the published file" in done.stderr and "verbatim models fetch" in done.stderr
    assert load_version(indexed_copy.index_dir).path == before  # the live index is untouched
    monkeypatch.setenv("VERBATIM_MODELS_DIR", str(models))
    assert _export_embedding_model(indexed_copy.model, force=False) == 0  # what `verbatim models fetch` runs
    repaired, _ = cached_export(indexed_copy.model)
    assert (repaired / "model.onnx").read_bytes() == (folder / "model.onnx").read_bytes()  # the export is deterministic


# ---------------------------------------------------------------- a sentence-transformers cross-encoder


def test_any_sentence_transformers_cross_encoder_works_through_the_same_option(bundled_settings, tmp_path):
    """A local CrossEncoder path (here a BERT checkpoint with a fresh one-logit head) is loaded with torch."""
    from index.models.rerank import TorchCrossEncoder, get_reranker
    from index.search import Searcher

    path = tmp_path / "cross-encoder"
    shutil.copytree(resolve_model(Settings().model), path)
    settings = bundled_settings.with_overrides(reranker=str(path))
    model = get_reranker(str(path))
    assert isinstance(model, TorchCrossEncoder)
    answer = Searcher(settings).search("How many people are in prison in El Salvador?", k=3)
    assert len(answer.hits) == 3 and answer.signals is not None
    # The shipped answerability weights read the packaged model's logits, so another model falls back.
    assert answer.answerability is None
