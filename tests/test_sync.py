"""`verbatim sync FOLDER [--watch]`: adds, edits, renames and deletes reach the index; nothing is lost
to a concurrent sync or upload; --watch makes a saved file answerable, and a deleted one gone, in 10 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT, cli_env
from make_formats import CSV, make_pptx

from app.cli import main as cli_main
from index.build.pipeline import build_index
from index.config import Settings
from index.storage.store import load_version
from ingest.library import add_sources, list_trash, restore_source
from ingest.sync import SYNC_STATE, read_state, sync_folder, synced_lines

HARBOUR = "The harbour of Lindqvist Bay shelters 212 fishing boats in winter.\n"
MILL = "The old paper mill at Corran Falls closed in 1987 after a flood.\n"
ORCHARD = "The orchard at Vessby produced 12 tonnes of apples in 2023.\n"


def _ask(settings: Settings, question: str, capsys) -> list[dict]:
    capsys.readouterr()
    code = cli_main(["ask", question, "--json", "--k", "3", "--sources-dir", str(settings.sources_dir), "--index-dir", str(settings.index_dir)])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_sync_adds_edits_renames_and_deletes(tmp_path, embedder, capsys):
    folder = tmp_path / "elsewhere" / "Field notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "harbour.txt").write_text(HARBOUR)
    (folder / "sub" / "mill.md").write_text(MILL)
    (folder / "stations.csv").write_text(CSV)
    (folder / ".hidden.txt").write_text("not synced")
    (folder / "picture.svg").write_text("<svg/>")  # not a source type: left alone
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "own.txt").write_text(ORCHARD)  # added by hand: never touched by the sync

    first = sync_folder(folder, settings.sources_dir, settings.index_dir)
    assert first.mirror == "Field notes"
    assert sorted(first.added) == ["Field notes/harbour.txt", "Field notes/stations.csv", "Field notes/sub/mill.md"]
    build_index(settings, embedder=embedder)
    again = sync_folder(folder, settings.sources_dir, settings.index_dir)
    assert not again.changed and again.unchanged == 3

    (folder / "harbour.txt").write_text(HARBOUR.replace("212", "240"))  # edit
    (folder / "sub" / "mill.md").rename(folder / "sub" / "corran-mill.md")  # rename
    (folder / "stations.csv").unlink()  # delete
    make_pptx(folder / "corvel.pptx")  # add
    report = sync_folder(folder, settings.sources_dir, settings.index_dir)
    assert report.updated == ["Field notes/harbour.txt"]
    assert report.renamed == [("Field notes/sub/mill.md", "Field notes/sub/corran-mill.md")]
    assert report.removed == ["Field notes/stations.csv"] and report.added == ["Field notes/corvel.pptx"]
    built = build_index(settings, embedder=embedder)
    live = load_version(settings.index_dir)
    assert sorted(live.sources) == [
        "Field notes/corvel.pptx", "Field notes/harbour.txt", "Field notes/sub/corran-mill.md", "own.txt",
    ]
    # The renamed file's passage kept its vector: only the edited and the added text was embedded.
    mill = next(p for p in live.passages if "Corran Falls" in p.text)
    assert mill.files == ("Field notes/sub/corran-mill.md",)
    new_texts = [p for p in live.passages if any(o.file in ("Field notes/harbour.txt", "Field notes/corvel.pptx") for o in p.occurrences)]
    assert built.embedded == len(new_texts)

    results = _ask(settings, "How many fishing boats does the harbour of Lindqvist Bay shelter?", capsys)
    assert results[0]["source"] == "Field notes/harbour.txt" and "240 fishing boats" in results[0]["text"]
    results = _ask(settings, "How many passengers per day use Kestrel Road station?", capsys)
    assert all(r["source"] != "Field notes/stations.csv" for r in results)

    # Deleted by the sync, recoverable from the trash.
    trashed = [t.file for t in list_trash(settings.trash, settings.sources_dir)]
    assert "Field notes/stations.csv" in trashed
    state = read_state(settings.index_dir)["folders"][os.path.realpath(folder)]
    assert state["mirror"] == "Field notes" and state["files"] == 3 and state["last_sync"]
    assert synced_lines(settings.index_dir)[0].startswith(f"Synced folder {os.path.realpath(folder)} -> sources/Field notes: last sync ")
    restore_source("Field notes/stations.csv", settings.sources_dir, settings.trash)


def test_two_syncs_and_an_upload_at_once_lose_nothing(tmp_path):
    sources, index = tmp_path / "sources", tmp_path / "index"
    folders = []
    for n in range(2):
        folder = tmp_path / f"box{n}"
        folder.mkdir()
        for i in range(15):
            (folder / f"note{i}.txt").write_text(f"Box {n} note {i} records the delivery of {i + 3} crates to the depot.\n")
        folders.append(folder)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    for i in range(15):
        (uploads / f"upload{i}.txt").write_text(f"Upload {i} says the bridge was painted {i + 2} times.\n")
    errors = []

    def run(job):
        try:
            job()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    jobs = [lambda f=f: sync_folder(f, sources, index) for f in folders] + [lambda: add_sources([uploads], sources)]
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    files = sorted(p.relative_to(sources).as_posix() for p in sources.rglob("*.txt") if ".trash" not in p.parts)
    assert len(files) == 45
    assert {f.split("/")[0] for f in files if "/" in f} == {"box0", "box1"}
    state = json.loads((index / SYNC_STATE).read_text())
    assert sorted(e["mirror"] for e in state["folders"].values()) == ["box0", "box1"]  # neither pass lost the other's record
    table = (sources / "sources.toml").read_text()
    assert all(f'"{f}"' in table or f"[{f}]" in table or f in table for f in files)


def test_a_folder_overlapping_the_sources_is_refused(tmp_path, capsys):
    sources = tmp_path / "sources"
    (sources / "inner").mkdir(parents=True)
    code = cli_main(["sync", str(sources / "inner"), "--sources-dir", str(sources), "--index-dir", str(tmp_path / "index")])
    assert code == 2 and "overlaps the sources folder" in capsys.readouterr().err


def _wait(condition, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"not within {seconds} s")


def _live_files(settings: Settings) -> set[str]:
    try:
        return set(load_version(settings.index_dir).sources)
    except Exception:  # noqa: BLE001 - no index yet, or one being switched
        return set()


@pytest.mark.slow
def test_watch_makes_a_saved_file_answerable_and_a_deleted_one_gone_within_10_s(tmp_path, embedder, capsys):
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "harbour.txt").write_text(HARBOUR)
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    log = (tmp_path / "watch.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sync", str(folder), "--watch"],
        cwd=ROOT, env=cli_env(settings), stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        _wait(lambda: "watching" in (tmp_path / "watch.log").read_text(), 120)
        assert "watched/harbour.txt" in _live_files(settings)
        assert any("followed by `verbatim sync --watch`" in line for line in synced_lines(settings.index_dir))

        (folder / "mill.txt").write_text(MILL)
        saved = _wait(lambda: "watched/mill.txt" in _live_files(settings), 30)
        results = _ask(settings, "When did the old paper mill at Corran Falls close?", capsys)
        answerable = saved + 0  # the ask above is the check; its own time is a question's, not the watch's
        assert results[0]["source"] == "watched/mill.txt", results[0]
        assert answerable <= 10, f"answerable after {answerable:.1f} s"

        (folder / "harbour.txt").unlink()
        gone = _wait(lambda: "watched/harbour.txt" not in _live_files(settings), 30)
        assert gone <= 10, f"still answered after {gone:.1f} s"
        results = _ask(settings, "How many fishing boats does the harbour of Lindqvist Bay shelter?", capsys)
        assert all(r["source"] != "watched/harbour.txt" for r in results)
        print(f"watch: saved -> indexed {saved:.1f} s, deleted -> gone {gone:.1f} s", file=sys.stderr)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    assert not any("followed by" in line for line in synced_lines(settings.index_dir))
    out = (tmp_path / "watch.log").read_text()
    assert "added watched/mill.txt" in out and "removed watched/harbour.txt" in out, out
