"""Every way an index can be unusable gives a clear error naming the fix, in the CLI and in the app,
and the app keeps serving and recovers once the index is good again."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gradio_client import Client

from app.cli import main as cli_main
from index.storage.store import CURRENT, current_version_path
from tests.conftest import cli_env, running_server

QUESTION = "How many people are in prison in El Salvador?"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))


def _edit_manifest(**changes):
    def edit(version: Path) -> None:
        manifest = json.loads((version / "manifest.json").read_text())
        manifest.update(changes)
        (version / "manifest.json").write_text(json.dumps(manifest))

    return edit


# fault name -> (what it does to a copy of a good version, what the error must say)
FAULTS = {
    "vectors truncated": (lambda v: _truncate(v / "vectors.npy"), "truncated"),
    "faiss index truncated": (lambda v: _truncate(v / "dense.faiss"), "truncated"),
    "passages truncated mid-line": (lambda v: _truncate(v / "passages.jsonl"), "truncated"),
    "sentence vectors corrupted in place": (lambda v: _flip_bytes(v / "sentence_vectors.npy"), "corrupted"),
    "lexical index corrupted in place": (lambda v: _flip_bytes(next((v / "lexical").glob("*.npy"))), "corrupted"),
    "file deleted": (lambda v: (v / "sentence_rows.npy").unlink(), "missing"),
    "manifest deleted": (lambda v: (v / "manifest.json").unlink(), "no manifest"),
    "manifest garbage": (lambda v: (v / "manifest.json").write_bytes(b"\x00{not json"), "unreadable"),
    "manifest of another model": (_edit_manifest(model="sentence-transformers/all-mpnet-base-v2"), "built with model"),
    "manifest of another format version": (_edit_manifest(format_version=99), "format 99"),
}


def make_faulty_version(index_dir: Path, fault: str) -> str:
    """Copy the live version, damage the copy, point CURRENT at it; returns the good version's name."""
    good = current_version_path(index_dir)
    bad = index_dir / f"v-faulty-{fault.replace(' ', '-')}"
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(good, bad)
    FAULTS[fault][0](bad)
    (index_dir / CURRENT).write_text(bad.name + "\n")
    return good.name


@pytest.fixture()
def index_copy(tmp_path, bundled_settings):
    target = tmp_path / "index"
    shutil.copytree(bundled_settings.index_dir, target)
    return bundled_settings.with_overrides(index_dir=target)


def ask_cli(settings, capsys, *extra: str) -> tuple[int, str, str]:
    argv = ["ask", "--sources-dir", str(settings.sources_dir), "--index-dir", str(settings.index_dir), *extra, QUESTION]
    code = cli_main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_cli_names_the_fix_for_each_fault(fault, index_copy, capsys):
    make_faulty_version(index_copy.index_dir, fault)
    code, out, err = ask_cli(index_copy, capsys)
    assert code == 1 and out == ""
    assert FAULTS[fault][1] in err and "verbatim build --full" in err
    assert "Traceback" not in err


def test_cli_names_the_fix_for_missing_index_and_dangling_pointer(tmp_path, index_copy, capsys):
    empty = index_copy.with_overrides(index_dir=tmp_path / "nothing")
    code, _, err = ask_cli(empty, capsys)
    assert code == 1 and "no index" in err and "verbatim build" in err
    (index_copy.index_dir / CURRENT).write_text("v-gone\n")
    code, _, err = ask_cli(index_copy, capsys)
    assert code == 1 and "missing" in err and "verbatim build --full" in err


def test_cli_process_prints_no_traceback(index_copy):
    """The real `verbatim ask` process: one line on stderr, exit status 1."""
    make_faulty_version(index_copy.index_dir, "vectors truncated")
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", QUESTION], env=cli_env(index_copy), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "verbatim build --full" in result.stderr


def _chat_reply(client: Client, question: str) -> str:
    history, _ = client.predict(question, [], 5, "hybrid", [], api_name="/chat")
    content = history[-1]["content"]
    return content[0]["text"] if isinstance(content, list) else content


@pytest.mark.slow
def test_app_reports_each_fault_keeps_serving_and_recovers(index_copy, tmp_path):
    with running_server(index_copy, tmp_path / "serve.log") as url:
        client = Client(url, verbose=False)
        assert client.predict(QUESTION, 3, "hybrid", api_name="/ask")["results"]
        for fault in sorted(FAULTS):
            good = make_faulty_version(index_copy.index_dir, fault)
            reply = client.predict(QUESTION, 3, "hybrid", api_name="/ask")
            assert reply["results"] == [], fault
            assert "verbatim build --full" in reply["error"] and FAULTS[fault][1] in reply["error"], (fault, reply)
            chat = _chat_reply(client, QUESTION)
            assert "verbatim build --full" in html.unescape(chat), (fault, chat)
            # The index is good again (as after `verbatim build --full`): answers come back without a restart.
            (index_copy.index_dir / CURRENT).write_text(good + "\n")
            assert client.predict(QUESTION, 3, "hybrid", api_name="/ask")["results"], fault
        (index_copy.index_dir / CURRENT).unlink()
        reply = client.predict(QUESTION, 3, "hybrid", api_name="/ask")
        assert "no index" in reply["error"] and "verbatim build" in reply["error"]
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log
