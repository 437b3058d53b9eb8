"""Questions are encoded by the index's own ONNX export: the same vectors as sentence-transformers, no torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.datasets import load_gold, load_squad
from eval.run import default_gold_files
from index.config import Settings
from index.embed import resolve_model
from index.model_files import ModelFileError
from index.onnx_encoder import OnnxEncoder
from index.query_encoder import exportable_spec, open_query_encoder
from index.store import load_version
from tests.conftest import ROOT, SHARED, cli_env

SQUAD = SHARED / "benchmarks" / "squad-v1.1-dev-part1.json"
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
    entry = load_version(bundled_settings.index_dir).manifest.query_encoder
    assert entry["kind"] == "onnx" and entry["spec"]["pooling"] == "mean" and entry["spec"]["max_tokens"] == 256
    folder = Path(bundled_settings.index_dir) / entry["path"]
    assert set(entry["files"]) == {"model.onnx", "tokenizer.json"} and (folder / "model.onnx").is_file()


def test_onnx_vectors_equal_sentence_transformers_on_real_questions(bundled_settings, embedder):
    index = load_version(bundled_settings.index_dir)
    onnx = open_query_encoder(bundled_settings.index_dir, index.manifest.query_encoder, bundled_settings.model)
    assert isinstance(onnx, OnnxEncoder)
    questions = real_questions()
    assert len(questions) >= 300
    light, full = onnx.encode(questions), embedder.encode(questions)
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


def test_damaged_encoder_file_is_one_clear_error(bundled_settings, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(bundled_settings.index_dir, copy)
    entry = load_version(copy).manifest.query_encoder
    model = copy / entry["path"] / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.unlink()  # a hard link to the shared export: write a new file, not through the link
    model.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"damaged or not the published file.*verbatim build --full"):
        open_query_encoder(copy, entry, bundled_settings.model)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", "How many prisoners?"],
        env=cli_env(Settings(sources_dir=bundled_settings.sources_dir, index_dir=copy)), cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "verbatim build --full" in done.stderr


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
