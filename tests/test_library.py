"""Adding, updating and removing sources; incremental builds equal full ones; model changes refused."""

import json
import subprocess
import sys

import numpy as np
import pytest

from index.config import Settings
from index.build.pipeline import BuildRefused, build_index, list_sources
from index.search import Searcher
from ingest.library import add_sources, remove_source, safe_name
from ingest.readers import load_metadata

from conftest import cli_env

QUESTIONS = [
    "How many prisoners does El Salvador hold?",
    "How many boats did the harbour survey count?",
    "Which countries copied the Bukele model?",
    "When did the bridge close?",
]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("/abs/path/report.PDF", "report.pdf"),
        (".hidden.txt", "hidden.txt"),
        ("a<b>c|d?.html", "a_b_c_d.html"),
        ("   .txt", "document.txt"),
        ("Informe año 2024.docx", "Informe año 2024.docx"),
    ],
)
def test_names_are_sanitized(name, expected):
    assert safe_name(name) == expected


def test_add_update_remove_and_list(tmp_path, sources_copy, embedder):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "harbour.md").write_text("# Harbour Survey\n\nThe harbour survey counted 212 fishing boats in 2024.\n")
    (inbox / "notes.xyz").write_text("unsupported")
    (inbox / "empty.txt").write_text("")
    added, skipped = add_sources([inbox], sources_copy)
    assert [(a.file, a.title, a.replaced) for a in added] == [("harbour.md", "Harbour Survey", False)]
    assert {s.file: s.reason for s in skipped} == {"empty.txt": "empty file", "notes.xyz": "unsupported file type '.xyz'"}
    meta = load_metadata(sources_copy)
    assert meta["harbour.md"].title == "Harbour Survey" and meta["harbour.md"].added
    assert "Undated capture" in (sources_copy / "sources.toml").read_text()  # comments survive

    settings = Settings(sources_dir=sources_copy, index_dir=tmp_path / "index")
    build_index(settings, embedder=embedder)
    rows = {r.file: r for r in list_sources(settings)}
    assert rows["harbour.md"].indexed and rows["harbour.md"].passages == 2  # the heading is a passage too
    assert rows["pism-international-echoes-of-el-salvador-public-security-model.txt"].publisher == "PISM (PISM Bulletin)"

    (inbox / "harbour.md").write_text("# Harbour Survey\n\nThe harbour survey counted 230 fishing boats in 2025.\n")
    added, _ = add_sources([inbox / "harbour.md"], sources_copy)
    assert added[0].replaced
    assert not {r.file: r for r in list_sources(settings)}["harbour.md"].indexed  # changed, not rebuilt yet
    report = build_index(settings, embedder=embedder)
    assert report.embedded == 1
    answer = Searcher(settings, embedder).search("How many fishing boats did the harbour survey count?", k=3)
    assert "230 fishing boats" in answer.hits[0].passage.text
    assert not any("212 fishing boats" in h.passage.text for h in answer.hits)

    remove_source("harbour.md", sources_copy, tmp_path / "trash")
    assert "harbour.md" not in load_metadata(sources_copy)
    build_index(settings, embedder=embedder)
    answer = Searcher(settings, embedder).search("How many fishing boats did the harbour survey count?", k=5)
    assert not any("harbour.md" in h.passage.files for h in answer.hits)
    with pytest.raises(FileNotFoundError, match="no source named"):
        remove_source("harbour.md", sources_copy, tmp_path / "trash")


def _results(settings, embedder):
    searcher = Searcher(settings, embedder)
    return [[(h.passage.id, round(h.score, 5)) for h in searcher.search(q, k=5).hits] for q in QUESTIONS]


def test_incremental_build_equals_full_build(tmp_path, indexed_copy, embedder):
    incremental, sources_copy = indexed_copy, indexed_copy.sources_dir
    (sources_copy / "harbour.md").write_text("# Harbour\n\nThe harbour survey counted 212 fishing boats in 2024.\n")
    (sources_copy / "bridge.txt").write_text("The old bridge closed on 3 March 2025 for repairs.\n")
    (sources_copy / "wola-podcast-grim-side-of-el-salvador-security-model.txt").unlink()
    report = build_index(incremental, embedder=embedder)
    assert report.embedded == 3  # harbour.md's heading and paragraph, bridge.txt's sentence
    full = Settings(sources_dir=sources_copy, index_dir=tmp_path / "full")
    build_index(full, embedder=embedder, full=True)
    assert _results(incremental, embedder) == _results(full, embedder)
    a, b = Searcher(incremental, embedder).index(), Searcher(full, embedder).index()
    assert [p.to_dict() for p in a.passages] == [p.to_dict() for p in b.passages]
    assert np.allclose(a.vectors, b.vectors, atol=1e-5)


def test_a_different_model_needs_full(tmp_path, indexed_copy, embedder):
    settings = indexed_copy
    other = settings.with_overrides(model="some/other-model")
    with pytest.raises(BuildRefused, match="--full"):
        build_index(other, embedder=embedder)


def test_cli_add_sources_remove(tmp_path, indexed_copy):
    settings = indexed_copy
    note = tmp_path / "harbour.md"
    note.write_text("# Harbour Survey\n\nThe harbour survey counted 212 fishing boats in 2024.\n")
    run = lambda *args: subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=cli_env(settings), timeout=300)
    out = run("add", str(note))
    assert out.returncode == 0, out.stderr
    assert "added harbour.md: Harbour Survey" in out.stdout and "indexed 5 sources" in out.stdout
    listing = json.loads(run("sources", "--json").stdout)
    assert {r["file"]: r["passages"] for r in listing}["harbour.md"] == 2
    out = run("remove", "harbour.md")
    assert out.returncode == 0 and "indexed 4 sources" in out.stdout
    out = run("remove", "nothing.txt")
    assert out.returncode == 2 and "no source named" in out.stderr


def test_a_metadata_edit_needs_no_re_embedding(tmp_path, indexed_copy, embedder):
    settings, sources_copy = indexed_copy, indexed_copy.sources_dir
    toml = sources_copy / "sources.toml"
    toml.write_text(toml.read_text().replace('date = "2025-10-09"', 'date = "2025-10-10"', 1))
    report = build_index(settings, embedder=embedder)
    assert report.embedded == 0
    index = Searcher(settings, embedder).index()
    assert index.sources["wola-podcast-grim-side-of-el-salvador-security-model.txt"].meta.date == "2025-10-10"
    assert index.sources["wola-podcast-grim-side-of-el-salvador-security-model.txt"].own_meta.date == ""
