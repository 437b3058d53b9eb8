"""The sources folder under stress: parallel adds, a broken or wrongly typed sources.toml, removing
what is not a source, nested sources, the trash and restore, dead build folders, hostile metadata."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib

import pytest

from index.build.pipeline import build_index, list_sources
from index.config import Settings
from ingest.library import NotASource, add_sources, list_trash, remove_source, resolve_source, restore_source
from ingest.metadata import MetadataError, load_metadata

from conftest import cli_env

NOTE = "The harbour survey counted 212 fishing boats in 2024.\n"


def _cli(settings: Settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = cli_env(settings)
    env["VERBATIM_TRASH_DIR"] = str(settings.trash)
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env, timeout=timeout)


def _tables(text: str) -> list[str]:
    return re.findall(r"^\[(.+)\]\s*$", text, re.MULTILINE)


def test_parallel_adds_leave_one_valid_table_per_file(tmp_path):
    """20 rounds of 2-4 `verbatim add --no-build` processes at once, most adding the same new name."""
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "sources.toml").write_text("# hand-written comment that must survive\n")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    code = (
        "import sys; from pathlib import Path; from ingest.library import add_sources; "
        "add_sources([Path(p) for p in sys.argv[2:]], Path(sys.argv[1]))"
    )
    expected: set[str] = set()
    for round_ in range(20):
        shared = inbox / f"same-{round_}.txt"
        shared.write_text(f"Round {round_}: the harbour survey counted {round_} boats.\n")
        own = inbox / f"own-{round_}.txt"
        own.write_text(f"Round {round_} has a file of its own with {round_ * 7} ferries.\n")
        count = 2 + round_ % 3
        workers = [
            subprocess.Popen([sys.executable, "-c", code, str(sources), str(shared)] + ([str(own)] if i == 0 else []))
            for i in range(count)
        ]
        assert all(w.wait(timeout=120) == 0 for w in workers)
        expected |= {shared.name, own.name}
        text = (sources / "sources.toml").read_text()
        tomllib.loads(text)  # valid TOML after every round
        tables = [json.loads(t) for t in _tables(text)]
        assert sorted(tables) == sorted(expected), f"round {round_}: {tables}"
        assert text.startswith("# hand-written comment that must survive\n")
    assert not list(sources.glob(".*.tmp")) and not list(sources.glob(".*.part"))


def test_the_cli_adds_in_parallel_too(tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    note = tmp_path / "x.txt"
    note.write_text(NOTE)
    env = cli_env(settings)
    for _ in range(3):
        runs = [subprocess.Popen([sys.executable, "-m", "app.cli", "add", "--no-build", str(note)], env=env, stdout=subprocess.DEVNULL) for _ in range(3)]
        assert [r.wait(timeout=120) for r in runs] == [0, 0, 0]
    text = (settings.sources_dir / "sources.toml").read_text()
    assert _tables(text) == ['"x.txt"'] and tomllib.loads(text)["x.txt"]["added"]


BROKEN = '["a.txt"]\ntitle = "A"\n\n["a.txt"]\ntitle = "again"\n'


def test_a_broken_sources_toml_is_one_line_everywhere(tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    settings.sources_dir.mkdir()
    (settings.sources_dir / "a.txt").write_text(NOTE)
    (settings.sources_dir / "sources.toml").write_text(BROKEN)
    note = tmp_path / "b.txt"
    note.write_text("A second note about 31 ferries.\n")
    for args in (["build"], ["sources"], ["add", "--no-build", str(note)], ["serve", "--port", "1"]):
        run = _cli(settings, *args)
        assert run.returncode == 1, (args, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert lines == [f'error: {settings.sources_dir / "sources.toml"}, line 4: the table ["a.txt"] appears twice; delete one of them'], (args, run.stderr)
    assert not (settings.sources_dir / "b.txt").exists()  # nothing copied while the file is broken


@pytest.mark.parametrize(
    "toml, message",
    [
        ('["a.txt"]\ntitle = "A\n', r"line 2: not valid TOML \(.*\); fix that line"),
        ('["a.txt"]\ntitel = "A"\n', r'line 2: unknown key "titel" in \["a.txt"\]; did you mean "title"\?'),
        ('["a.txt"]\ntitle = "A"\npublisher = ["Pub A", "Pub B"]\n', r'line 3: publisher of \["a.txt"\] must be a string, not a list; write publisher = "Pub A, Pub B"'),
        ('["a.txt"]\nauthors = [1, 2]\n', r'line 2: authors of \["a.txt"\] must be a list of names'),
        ('title = "loose"\n', r'line 1: "title" is not inside a table'),
        ('["a.txt"]\ndate = 2025\n', r'line 2: date of \["a.txt"\] must be a string, not a number; write date = "2025"'),
    ],
)
def test_sources_toml_is_checked_against_the_schema(tmp_path, toml, message):
    (tmp_path / "sources.toml").write_text(toml)
    with pytest.raises(MetadataError, match=message):
        load_metadata(tmp_path)


def test_friendly_values_are_read_as_meant(tmp_path):
    (tmp_path / "sources.toml").write_text('["a.txt"]\nauthors = "Jane Doe"\ndate = 2025-10-09\n')
    meta = load_metadata(tmp_path)["a.txt"]
    assert meta.authors == ("Jane Doe",) and meta.date == "2025-10-09"


def test_only_sources_can_be_removed_and_nested_ones_by_path(tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    (settings.sources_dir / "sub").mkdir(parents=True)
    (settings.sources_dir / "sub" / "nested.txt").write_text(NOTE)
    (settings.sources_dir / "top.txt").write_text("A top-level note about 12 ferries.\n")
    (settings.sources_dir / "sources.toml").write_text('["sub/nested.txt"]\ntitle = "Nested note"\n')
    run = _cli(settings, "remove", "--no-build", "sources.toml")
    assert run.returncode == 2 and "is the metadata file, not a source" in run.stderr
    assert (settings.sources_dir / "sources.toml").exists()
    with pytest.raises(NotASource):
        resolve_source("../sources/sources.toml", settings.sources_dir)
    with pytest.raises(FileNotFoundError, match="no source named '../../etc/passwd'"):
        resolve_source("../../etc/passwd", settings.sources_dir)

    assert [r.file for r in list_sources(settings)] == ["sub/nested.txt", "top.txt"]
    assert resolve_source("nested.txt", settings.sources_dir) == "sub/nested.txt"  # a unique file name will do
    run = _cli(settings, "remove", "--no-build", "sub/nested.txt")
    assert run.returncode == 0, run.stderr
    assert "removed sub/nested.txt" in run.stdout and "verbatim restore sub/nested.txt" in run.stdout
    assert not (settings.sources_dir / "sub").exists()
    assert "sub/nested.txt" not in load_metadata(settings.sources_dir)

    run = _cli(settings, "restore", "--list")
    assert run.stdout.startswith("sub/nested.txt\tremoved ")
    run = _cli(settings, "restore", "--no-build", "sub/nested.txt")
    assert run.returncode == 0 and "restored sub/nested.txt" in run.stdout
    assert (settings.sources_dir / "sub" / "nested.txt").read_text() == NOTE
    assert load_metadata(settings.sources_dir)["sub/nested.txt"].title == "Nested note"
    assert list_trash(settings.trash) == []


def test_removed_sources_wait_in_the_trash(tmp_path):
    sources, trash = tmp_path / "sources", tmp_path / "trash"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "note.md").write_text("# Harbour Note\n\n" + NOTE)
    add_sources([inbox / "note.md"], sources)
    (sources / "sources.toml").write_text((sources / "sources.toml").read_text().replace('publisher = ""', 'publisher = "Port Office"'))
    first = remove_source("note.md", sources, trash)
    assert first.path.read_text() == "# Harbour Note\n\n" + NOTE
    assert not (sources / "note.md").exists() and "note.md" not in load_metadata(sources)
    # A new file of the same name, removed too: restore brings back the latest, then the older one.
    (inbox / "note.md").write_text("# Harbour Note\n\nThe second survey counted 230 boats.\n")
    add_sources([inbox / "note.md"], sources)
    time.sleep(1.1)  # trash entries are ordered by the second they were made
    remove_source("note.md", sources, trash)
    assert [t.file for t in list_trash(trash)] == ["note.md", "note.md"]
    restore_source("note.md", sources, trash)
    assert "230 boats" in (sources / "note.md").read_text()
    with pytest.raises(FileExistsError, match="exists again"):
        restore_source("note.md", sources, trash)
    remove_source("note.md", sources, trash)
    time.sleep(1.1)
    assert len(list_trash(trash)) == 2
    with pytest.raises(FileNotFoundError, match="no removed source named 'other.md'"):
        restore_source("other.md", sources, trash)


def test_restore_brings_the_metadata_back(tmp_path):
    sources, trash = tmp_path / "sources", tmp_path / "trash"
    sources.mkdir()
    (sources / "a.txt").write_text(NOTE)
    (sources / "sources.toml").write_text('# keep me\n\n["a.txt"]\ntitle = "Harbour"\npublisher = "Port Office"\n')
    remove_source("a.txt", sources, trash)
    assert load_metadata(sources) == {}
    restore_source("a.txt", sources, trash)
    meta = load_metadata(sources)["a.txt"]
    assert (meta.title, meta.publisher) == ("Harbour", "Port Office")
    assert (sources / "sources.toml").read_text().startswith("# keep me\n")


def test_a_build_removes_what_dead_builds_left(tmp_path, embedder):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    settings.sources_dir.mkdir()
    (settings.sources_dir / "a.txt").write_text(NOTE)
    build_index(settings, embedder=embedder)
    dead = settings.index_dir / ".tmp-v-20260101T000000-abcdef"
    (dead / "lexical").mkdir(parents=True)
    (dead / "vectors.npy").write_bytes(b"\0" * 1024)  # fresh: age no longer matters
    pointer = settings.index_dir / ".CURRENT.v-20260101T000000-abcdef"
    pointer.write_text("v-20260101T000000-abcdef\n")
    (settings.sources_dir / "b.txt").write_text("A second note about 31 ferries.\n")
    build_index(settings, embedder=embedder)
    assert not dead.exists() and not pointer.exists()


def test_control_and_bidi_characters_never_reach_the_terminal(tmp_path, embedder):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    settings.sources_dir.mkdir()
    (settings.sources_dir / "a.txt").write_text(NOTE)
    (settings.sources_dir / "sources.toml").write_text(
        '["a.txt"]\ntitle = "Harbour \\u202eTXT.EXE\\u202c \\u001b[31mred\\u001b[0m"\nauthors = ["Ann\\u0007 Lee"]\npublisher = "Port\\u0000 Office"\n'
    )
    build_index(settings, embedder=embedder)
    out = _cli(settings, "sources").stdout + _cli(settings, "ask", "How many fishing boats did the survey count?").stdout
    assert "Harbour TXT.EXE [31mred [0m" in out and "Ann Lee" in out and "Port Office" in out
    assert not any(ch in out for ch in "\u202e\u202c\x1b\x07\x00")
    listing = json.loads(_cli(settings, "sources", "--json").stdout)
    assert listing[0]["title"] == "Harbour TXT.EXE [31mred [0m"


def test_ask_refuses_k_outside_1_to_50(tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    for k in ("0", "51"):
        run = _cli(settings, "ask", "How many boats?", "--k", k)
        assert run.returncode == 2 and "from 1 to 50" in run.stderr
