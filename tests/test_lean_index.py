"""An index names its model by sha256 instead of carrying a copy: small on disk, one encoder per machine,
refused in one line (exit 2) where its model is missing or changed, and the older layout still opens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gradio_client import Client

from eval.studies.bench import DEFAULT_SQUAD, measure_index_disk
from index.build.pipeline import build_index
from index.config import Settings
from index.models.model_files import PACKAGED, EncoderUnavailable, models_dir
from index.models.model_store import blob_path
from index.models.query_encoder import open_query_encoder
from index.search import Searcher
from index.storage.store import LEGACY_ENCODERS, current_version_path, load_version
from tests.conftest import ROOT, cli_env, running_server

QUESTION = "How many people are in prison in El Salvador?"


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _private_models(tmp_path: Path, encoder_blobs: dict[str, str] | None = None) -> Path:
    """A models folder of the test's own: the packaged models linked in (untouched), and the encoder's
    files (`encoder_blobs`, {file: sha256}) as real copies in its shared store, when given."""
    models = tmp_path / "models"
    models.mkdir(parents=True)
    for name in PACKAGED:
        if (models_dir() / name).is_dir():
            (models / name).symlink_to(models_dir() / name)
    for sha256 in (encoder_blobs or {}).values():
        target = blob_path(sha256, models)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(blob_path(sha256), target)  # a copy: the test may damage it
    return models


def _ask(settings: Settings, models: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**cli_env(settings), "VERBATIM_MODELS_DIR": str(models)}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", *extra, QUESTION], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )


def _encoder_entry(settings: Settings) -> dict:
    return load_version(settings.index_dir).manifest.query_encoder


@pytest.fixture()
def index_copy(tmp_path, bundled_settings) -> Settings:
    shutil.copytree(bundled_settings.index_dir, tmp_path / "index")
    return bundled_settings.with_overrides(index_dir=tmp_path / "index")


@pytest.fixture(scope="module")
def squad_disk(tmp_path_factory) -> dict:
    """The index `verbatim eval --squad` builds of SQuAD v1.1 dev part 1 (every paragraph), as the bench measures it."""
    if not DEFAULT_SQUAD.exists():
        pytest.skip("../shared/benchmarks not beside the repository")
    workdir = tmp_path_factory.mktemp("squad-disk")
    return {**measure_index_disk(DEFAULT_SQUAD, workdir), "index_dir": workdir / "index"}


# ---------------------------------------------------------------- size and sharing


def test_squad_index_is_at_most_6_mb_with_its_vectors_and_bm25(squad_disk):
    index_dir = squad_disk["index_dir"]
    on_disk = sum(p.stat().st_size for p in _files_under(index_dir))
    assert squad_disk["paragraphs"] == 475 and squad_disk["passages"] > 500
    assert squad_disk["total_bytes"] == on_disk <= 6_000_000, squad_disk["parts"]
    for part in ("passage vectors", "sentence vectors", "FAISS index", "BM25 (bm25s)"):
        assert squad_disk["parts"][part] > 0
    assert not any(p.suffix == ".onnx" or p.stat().st_size > 3_000_000 for p in _files_under(index_dir))
    assert squad_disk["encoder"]["bytes"]["model.onnx"] > 80_000_000  # named, kept outside


def test_two_collections_share_one_encoder_on_disk(squad_disk, bundled_settings):
    squad = Settings(sources_dir=squad_disk["index_dir"].parent / "sources", index_dir=squad_disk["index_dir"], rerank=False)
    bundled = bundled_settings.with_overrides(rerank=False)
    entries = [_encoder_entry(squad), _encoder_entry(bundled)]
    assert entries[0] == entries[1] and entries[0]["kind"] == "onnx" and "path" not in entries[0]
    assert entries[0]["model"] == Settings().model and set(entries[0]["files"]) == {"model.onnx", "tokenizer.json"}
    encoder = blob_path(entries[0]["files"]["model.onnx"])
    assert encoder.is_file()
    # Neither index holds the encoder's bytes, not even as a hard link: the one copy is the store's.
    inside = [p for settings in (squad, bundled) for p in _files_under(settings.index_dir)]
    assert not any(p.stat().st_size == encoder.stat().st_size or os.path.samefile(p, encoder) for p in inside)
    # One encoder loaded in memory for both, and both answer.
    assert open_query_encoder(squad.index_dir, entries[0], squad.model) is open_query_encoder(bundled.index_dir, entries[1], bundled.model)
    assert Searcher(squad).search("Which stadium hosted Super Bowl 50?", k=3).hits
    assert Searcher(bundled).search(QUESTION, k=3).hits


# ---------------------------------------------------------------- refused where the model is missing or changed


def test_an_index_whose_encoder_is_not_on_this_machine_is_refused_in_one_line(index_copy, tmp_path, monkeypatch):
    models = _private_models(tmp_path)
    done = _ask(index_copy, models)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and line.startswith("error: this index was built with encoder bundled:all-MiniLM-L6-v2 (model.onnx sha256 ")
    assert "which is not on this machine: run `verbatim models fetch`, or `verbatim build --full`" in line
    monkeypatch.setenv("VERBATIM_MODELS_DIR", str(models))
    with pytest.raises(EncoderUnavailable, match="not on this machine"):
        open_query_encoder(index_copy.index_dir, _encoder_entry(index_copy), index_copy.model)


def test_an_index_whose_encoder_changed_is_refused_in_one_line(index_copy, tmp_path):
    entry = _encoder_entry(index_copy)
    models = _private_models(tmp_path, entry["files"])
    assert _ask(index_copy, models, "--json").returncode == 0  # its own copy of the files: answers
    damaged = blob_path(entry["files"]["model.onnx"], models)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    done = _ask(index_copy, models)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0
    assert "damaged or not the published file" in done.stderr and "`verbatim models fetch`" in done.stderr
    # An index built elsewhere with another export of the same model: named by its sha256, not found here.
    manifest = current_version_path(index_copy.index_dir) / "manifest.json"
    data = json.loads(manifest.read_text())
    data["query_encoder"]["files"]["model.onnx"] = "ab" * 32
    manifest.write_text(json.dumps(data))
    done = _ask(index_copy, _private_models(tmp_path / "second", entry["files"]))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert f"(model.onnx sha256 {'ab' * 6}…), which is not on this machine" in done.stderr


def test_models_fetch_puts_an_export_in_the_shared_store(index_copy, tmp_path, monkeypatch):
    """Without the store, the model's export is found by sha256; `verbatim models fetch` (here without
    torch: the export is there and verified) keeps its files in the store again."""
    from app.cli import _export_embedding_model

    entry = _encoder_entry(index_copy)
    models = _private_models(tmp_path)
    export = models_dir() / "exports" / entry["export"]
    shutil.copytree(export, models / "exports" / entry["export"], copy_function=os.link)  # read only here
    assert _ask(index_copy, models, "--json").returncode == 0
    monkeypatch.setenv("VERBATIM_MODELS_DIR", str(models))
    assert _export_embedding_model(index_copy.model, force=False) == 0
    for file, sha256 in entry["files"].items():
        assert os.path.samefile(blob_path(sha256), models / "exports" / entry["export"] / file)


@pytest.mark.slow
def test_web_app_names_the_fix_and_answers_once_the_model_is_back(index_copy, tmp_path, monkeypatch):
    real, models = models_dir(), _private_models(tmp_path)
    monkeypatch.setenv("VERBATIM_MODELS_DIR", str(models))
    with running_server(index_copy, tmp_path / "serve.log") as url:
        client = Client(url, verbose=False)
        reply = client.predict(QUESTION, 3, "hybrid", api_name="/ask")
        assert reply["results"] == []
        assert reply["error"].startswith("The index cannot be used: this index was built with encoder bundled:all-MiniLM-L6-v2")
        assert "not on this machine: run `verbatim models fetch`" in reply["error"] and "/" + "root" not in reply["error"]
        for sha256 in _encoder_entry(index_copy)["files"].values():  # what `verbatim models fetch` restores
            target = blob_path(sha256, models)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(blob_path(sha256, real), target)
        assert client.predict(QUESTION, 3, "hybrid", api_name="/ask")["results"]
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


# ---------------------------------------------------------------- the layout before: the encoder copied in


def _as_old_layout(settings: Settings) -> Path:
    """Turn the index into what Verbatim wrote before models were referenced: the encoder copied into
    index_dir/encoders/<export>/ and the manifest naming it by path. Returns that folder."""
    manifest = current_version_path(settings.index_dir) / "manifest.json"
    data = json.loads(manifest.read_text())
    entry = data["query_encoder"]
    folder = settings.index_dir / LEGACY_ENCODERS / entry["export"]
    folder.mkdir(parents=True)
    for file, sha256 in entry["files"].items():
        shutil.copyfile(blob_path(sha256), folder / file)
    data["query_encoder"] = {"kind": "onnx", "path": f"{LEGACY_ENCODERS}/{entry['export']}", "files": entry["files"], "spec": entry["spec"]}
    manifest.write_text(json.dumps(data, indent=2))
    return folder


def test_an_old_layout_index_opens_from_its_own_copy_and_sheds_it_after_two_builds(index_copy, tmp_path, embedder):
    legacy = _as_old_layout(index_copy)
    answered = _ask(index_copy, _private_models(tmp_path), "--json")  # no model on the machine: its copy serves
    assert answered.returncode == 0 and len(json.loads(answered.stdout)) == 5, answered.stderr
    build_index(index_copy, embedder=embedder)  # the previous (old) version is kept, and its copy with it
    assert legacy.is_dir() and "path" not in _encoder_entry(index_copy)
    build_index(index_copy, embedder=embedder)  # no version names the copy any more: it goes
    assert not (index_copy.index_dir / LEGACY_ENCODERS).exists()
    assert sum(p.stat().st_size for p in _files_under(index_copy.index_dir)) < 3_000_000


def test_an_old_layout_index_without_its_copy_is_refused_in_one_line(index_copy, tmp_path):
    shutil.rmtree(_as_old_layout(index_copy))
    done = _ask(index_copy, _private_models(tmp_path))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "which is not on this machine: run `verbatim models fetch`" in done.stderr
