"""`verbatim sync FOLDER [--watch]`: adds, edits, renames and deletes reach the index; nothing is lost
to a concurrent sync or upload; --watch makes a saved file answerable, and a deleted one gone, in 10 s.
"""

from __future__ import annotations

import json
import os
import shutil
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
        # Ctrl-C as in a terminal: a suite started as `nohup make test &` runs with SIGHUP ignored (nohup) and
        # SIGINT and SIGQUIT ignored (a background command of a non-interactive shell), and a child inherits that,
        # so the SIGINT below would never arrive.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
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


# ---------------------------------------------------------------- issue 34: items 4, 5, 6 and the CLI's low items


def _cli(settings: Settings, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """The real `verbatim` in a subprocess, for `settings`' folders (env: extra variables)."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], check=False, cwd=ROOT, env={**cli_env(settings), **env},
        capture_output=True, text=True, timeout=timeout,
    )


def test_a_folder_added_by_hand_is_never_taken_over(tmp_path):
    """Item 5: `add proj/` makes sources/notes/; syncing another `notes` folder mirrors it beside, and
    `add` puts nothing in a mirror (the next sync would trash it)."""
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    (tmp_path / "proj" / "notes").mkdir(parents=True)
    (tmp_path / "proj" / "notes" / "x.txt").write_text(HARBOUR)
    elsewhere = tmp_path / "elsewhere" / "notes"
    elsewhere.mkdir(parents=True)
    (elsewhere / "y.txt").write_text(MILL)
    assert _cli(settings, "add", "--no-build", str(tmp_path / "proj")).returncode == 0

    run = _cli(settings, "sync", "--no-build", str(elsewhere))
    assert run.returncode == 0, run.stderr
    assert "note: sources/notes/ was not made by this sync" in run.stderr and "mirrored into sources/notes-2/" in run.stderr
    assert (settings.sources_dir / "notes" / "x.txt").read_text() == HARBOUR  # untouched
    assert (settings.sources_dir / "notes-2" / "y.txt").read_text() == MILL
    assert list_trash(settings.trash, settings.sources_dir) == []
    again = _cli(settings, "sync", "--no-build", str(elsewhere))  # the record keeps the name; no note twice
    assert again.returncode == 0 and "note:" not in again.stderr and "1 unchanged" in again.stdout
    assert (settings.sources_dir / "notes" / "x.txt").exists() and list_trash(settings.trash, settings.sources_dir) == []

    (tmp_path / "proj2" / "notes-2").mkdir(parents=True)
    (tmp_path / "proj2" / "notes-2" / "w.txt").write_text(ORCHARD)
    run = _cli(settings, "add", "--no-build", str(tmp_path / "proj2"))
    assert run.returncode == 1 and not (settings.sources_dir / "notes-2" / "w.txt").exists()
    assert f"inside sources/notes-2/, which `verbatim sync` keeps in step with {os.path.realpath(elsewhere)}" in run.stderr


def test_saves_keep_the_last_versions_and_a_folder_rename_is_one_move(tmp_path):
    """Item 6: 12 appends leave the last 3 versions in the trash (--trash-versions sets it), `restore
    --list` shows the limits and the size, sources.toml does not grow; a renamed folder is one line and
    nothing goes to the trash."""
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    folder = tmp_path / "log"
    (folder / "old").mkdir(parents=True)
    (folder / "diary.txt").write_text(HARBOUR)
    for i in range(10):
        (folder / "old" / f"n{i}.txt").write_text(f"Note {i}: the ferry crossed {i + 4} times.\n")
    assert _cli(settings, "sync", "--no-build", str(folder)).returncode == 0
    toml = settings.sources_dir / "sources.toml"
    (settings.sources_dir / "sources.toml").write_text(
        toml.read_text().replace('["log/old/n3.txt"]\ntitle = "n3.txt"', '["log/old/n3.txt"]\ntitle = "Ferry note three"')
    )
    sizes = []
    for i in range(12):  # what an editor's saves do to a watched file: one pass each
        with (folder / "diary.txt").open("a") as fh:
            fh.write(f"Save {i}: {i + 1} more boats came in.\n")
        assert _cli(settings, "sync", "--no-build", str(folder)).returncode == 0
        sizes.append(len(toml.read_text()))
    versions = [t for t in list_trash(settings.trash, settings.sources_dir) if t.file == "log/diary.txt"]
    assert len(versions) == 3 and all(t.reason == "replaced" for t in versions)
    last_lines = [t.path.read_text().splitlines()[-1] for t in versions]  # newest first: before saves 11, 10, 9
    assert [line.split(":")[0] for line in last_lines] == ["Save 10", "Save 9", "Save 8"]
    assert len(set(sizes)) == 1, sizes  # the table moves to the end once, without a blank line per save
    listing = _cli(settings, "restore", "--list")
    assert listing.stdout.count("log/diary.txt\tremoved") == 3
    assert f"trash {settings.trash}: 3 entries" in listing.stderr
    assert "keeps the last 3 replaced versions of a file, 30 days, 1024 MB" in listing.stderr and "--trash-max-mb" in listing.stderr

    (folder / "diary.txt").write_text(HARBOUR + "One more save.\n")
    assert _cli(settings, "sync", "--no-build", "--trash-versions", "1", str(folder)).returncode == 0
    assert len([t for t in list_trash(settings.trash, settings.sources_dir) if t.file == "log/diary.txt"]) == 1
    refused = _cli(settings, "sync", "--no-build", "--trash-versions", "-1", str(folder))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "0 or more" in refused.stderr

    (folder / "old").rename(folder / "new")
    run = _cli(settings, "sync", "--no-build", str(folder))
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "renamed log/old/ -> log/new/ (10 files)" and run.stdout.count("renamed log") == 1
    assert "10 renamed, 0 removed" in run.stdout
    assert len(list_trash(settings.trash, settings.sources_dir)) == 1  # only the diary's last version
    assert not (settings.sources_dir / "log" / "old").exists()
    assert (settings.sources_dir / "log" / "new" / "n3.txt").read_text() == "Note 3: the ferry crossed 7 times.\n"
    text = toml.read_text()
    assert '["log/new/n3.txt"]\ntitle = "Ferry note three"' in text and "log/old/" not in text  # the table moved with it


def test_the_trash_keeps_entries_for_its_age_and_size_limits(tmp_path):
    """Item 6: entries past the age limit go, the oldest go past the size limit, the newest always stays,
    and another collection's entries in a shared trash are never touched."""
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    settings.sources_dir.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (settings.sources_dir / name).write_text(f"{name} says the river rose {len(name)} metres.\n" + "x" * 400_000)
    assert _cli(settings, "remove", "--no-build", "a.txt").returncode == 0
    old = list_trash(settings.trash, settings.sources_dir)[0]
    record = json.loads((old.entry / "entry.json").read_text())
    record["removed_ns"] -= 40 * 86_400 * 10**9  # removed 40 days ago
    (old.entry / "entry.json").write_text(json.dumps(record))
    assert _cli(settings, "remove", "--no-build", "b.txt").returncode == 0
    assert [t.file for t in list_trash(settings.trash, settings.sources_dir)] == ["b.txt"]  # a.txt was past 30 days

    run = _cli(settings, "remove", "--no-build", "c.txt", VERBATIM_TRASH_MAX_MB="0")  # 0: no size limit
    assert run.returncode == 0 and len(list_trash(settings.trash, settings.sources_dir)) == 2
    listing = _cli(settings, "restore", "--list", "--trash-max-mb", "1")  # read-only: shows, deletes nothing
    assert "2 entries, 0.8 MB; keeps the last 3 replaced versions of a file, 30 days, 1 MB" in listing.stderr
    (settings.sources_dir / "d.txt").write_text("d.txt says the bridge is 40 metres long.\n" + "y" * 900_000)
    assert _cli(settings, "remove", "--no-build", "d.txt", VERBATIM_TRASH_MAX_MB="1").returncode == 0
    assert [t.file for t in list_trash(settings.trash, settings.sources_dir)] == ["d.txt"]  # over 1 MB: the oldest went
    (settings.sources_dir / "e.txt").write_text("e" * 2_000_000)
    assert _cli(settings, "remove", "--no-build", "e.txt", "--trash-max-mb", "1").returncode == 0
    assert [t.file for t in list_trash(settings.trash, settings.sources_dir)] == ["e.txt"]  # the newest stays, even alone past the limit

    other = tmp_path / "other"
    other.mkdir()
    (other / "f.txt").write_text("f" * 10)
    assert _cli(Settings(sources_dir=other, index_dir=tmp_path / "i2"), "remove", "--no-build", "f.txt",
                VERBATIM_TRASH_DIR=str(settings.trash), VERBATIM_TRASH_MAX_MB="1").returncode == 0
    assert (settings.trash / list_trash(settings.trash, settings.sources_dir)[-1].id / "e.txt").is_file()  # not f.txt's collection's to delete
    assert [t.file for t in list_trash(settings.trash, other)] == ["f.txt"]


def _start_watch(folder, settings: Settings, log_path):
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sync", str(folder), "--watch"],
        cwd=ROOT, env=cli_env(settings), stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    log.close()
    return process


def _stop(process, sig=signal.SIGTERM) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@pytest.mark.slow
def test_watch_follows_a_folder_deleted_and_made_again_and_reports_itself_truthfully(tmp_path):
    """Item 4: the watch waits for a deleted folder and follows the new one (its files indexed, the old
    ones trashed); sync.json says so while it waits, and says nothing once a SIGTERM stopped it or a
    kill -9 killed it; a second watch of the same folder is refused."""
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "harbour.txt").write_text(HARBOUR)
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    log_path = tmp_path / "watch.log"
    process = _start_watch(folder, settings, log_path)
    try:
        _wait(lambda: "watching" in log_path.read_text() or process.poll() is not None, 120)
        assert process.poll() is None, log_path.read_text()
        assert any("followed by `verbatim sync --watch`" in line for line in synced_lines(settings.index_dir))
        second = _cli(settings, "sync", str(folder), "--watch", timeout=60)
        assert second.returncode == 2 and "is already followed by another `verbatim sync --watch`" in second.stderr
        assert second.stderr.count("\n") == 1

        shutil.rmtree(folder)
        _wait(lambda: "is gone" in log_path.read_text(), 10)
        assert process.poll() is None  # still alive, and says what it does
        assert any("the folder is gone: `verbatim sync --watch` follows it again when it is back" in line
                   for line in synced_lines(settings.index_dir))
        assert read_state(settings.index_dir)["folders"][os.path.realpath(folder)]["watch"] == "waiting"
        assert "watched/harbour.txt" in _live_files(settings)  # its copies stay while the folder is gone

        folder.mkdir()
        (folder / "mill.txt").write_text(MILL)
        back = _wait(lambda: "watched/mill.txt" in _live_files(settings), 30)
        assert "watched/harbour.txt" not in _live_files(settings)  # not in the new folder: to the trash
        assert "watched/harbour.txt" in [t.file for t in list_trash(settings.trash, settings.sources_dir)]
        (folder / "orchard.txt").write_text(ORCHARD)  # and the new folder is watched, not only synced once
        later = _wait(lambda: "watched/orchard.txt" in _live_files(settings), 30)
        assert any("followed by `verbatim sync --watch`" in line for line in synced_lines(settings.index_dir))
        print(f"watch: folder back -> indexed {back:.1f} s, a later file {later:.1f} s", file=sys.stderr)
    finally:
        code = _stop(process)  # a plain SIGTERM, as `kill PID` or a service manager sends
    out = log_path.read_text()
    assert code == 0, out
    assert "is back: syncing it and watching it again" in out and "stopped watching" in out and "Traceback" not in out
    entry = read_state(settings.index_dir)["folders"][os.path.realpath(folder)]
    assert entry["watch"] == "" and entry["watching"] is False
    assert not any("followed by" in line for line in synced_lines(settings.index_dir))

    # Killed outright: sync.json still says "watching", but the watch is not reported, since it is dead.
    process = _start_watch(folder, settings, log_path)
    try:
        _wait(lambda: "watching" in log_path.read_text() or process.poll() is not None, 120)
        assert any("followed by" in line for line in synced_lines(settings.index_dir))
    finally:
        _stop(process, signal.SIGKILL)
    assert read_state(settings.index_dir)["folders"][os.path.realpath(folder)]["watching"] is True  # stale
    assert not any("followed by" in line for line in synced_lines(settings.index_dir))
