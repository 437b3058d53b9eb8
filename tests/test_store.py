import json

import numpy as np
import pytest

from index.config import Settings
from index.storage import store
from index.build.pipeline import build_index, index_is_current
from index.search import Searcher
from index.storage.store import IndexCorrupt, IndexMissing, current_version_path, load_version


def test_build_writes_a_complete_pickle_free_version(bundled_settings):
    version = current_version_path(bundled_settings.index_dir)
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["format_version"] == store.FORMAT_VERSION
    assert manifest["model"] == bundled_settings.model
    assert manifest["dimension"] == 384
    assert manifest["passage_count"] > 50
    assert set(manifest["sources"]) >= {
        "csis-burgeoning-regional-appeal-of-mano-dura.txt",
        "pism-international-echoes-of-el-salvador-public-security-model.txt",
    }
    loaded = load_version(bundled_settings.index_dir)
    assert len(loaded.passages) == loaded.vectors.shape[0] == loaded.dense.size == manifest["passage_count"]
    assert np.allclose(np.linalg.norm(loaded.vectors, axis=1), 1.0, atol=1e-4)
    for path in version.rglob("*"):
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)  # raises if anything needed pickle
    assert index_is_current(bundled_settings)


def test_rebuild_reuses_vectors_and_switches_version(tmp_path, sources_copy, embedder):
    settings = Settings(sources_dir=sources_copy, index_dir=tmp_path / "index")
    first = build_index(settings, embedder=embedder)
    assert first.embedded == first.passages and first.reused == 0
    (sources_copy / "extra.md").write_text("# Extra\n\nThe *Verbatim* test adds one new sentence here.\n")
    assert not index_is_current(settings)
    second = build_index(settings, embedder=embedder)
    assert second.embedded == 2 and second.reused == first.passages  # "Extra" and its sentence
    assert current_version_path(settings.index_dir) == second.version
    assert first.version.exists()  # the previous version stays for readers still holding it


def test_a_crash_mid_build_leaves_the_previous_index_live(tmp_path, indexed_copy, embedder, monkeypatch):
    settings, sources_copy = indexed_copy, indexed_copy.sources_dir
    before = current_version_path(settings.index_dir)
    (sources_copy / "new.txt").write_text("A brand new document about river floods in 2024.\n")

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store.LexicalIndex, "build", explode)
    with pytest.raises(RuntimeError):
        build_index(settings, embedder=embedder)
    assert current_version_path(settings.index_dir) == before
    assert not list(settings.index_dir.glob(".tmp-*"))
    answer = Searcher(settings, embedder).search("How many prisoners does El Salvador hold?")
    assert answer.hits


def test_unreadable_files_are_skipped_and_reported(tmp_path, sources_copy, embedder):
    (sources_copy / "empty.txt").write_bytes(b"")
    (sources_copy / "binary.txt").write_bytes(b"\x00\x01\x02garbage\x00")
    settings = Settings(sources_dir=sources_copy, index_dir=tmp_path / "index")
    report = build_index(settings, embedder=embedder)
    reasons = {s.file: s.reason for s in report.skipped}
    assert reasons == {"empty.txt": "empty file", "binary.txt": "binary content (NUL bytes), not a text file"}
    assert report.sources == 4


def test_missing_and_damaged_indexes_name_the_fix(tmp_path, bundled_settings):
    with pytest.raises(IndexMissing, match="verbatim build"):
        load_version(tmp_path / "nothing")
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(bundled_settings.index_dir, broken)
    version = current_version_path(broken)
    (version / "vectors.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(IndexCorrupt, match="verbatim build --full"):
        load_version(broken)
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["format_version"] = 999
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match="format 999.*verbatim build --full"):
        load_version(broken)
    with pytest.raises(IndexCorrupt, match="built with model"):
        load_version(bundled_settings.index_dir, expected_model="some/other-model")
