"""Issue 34, low items: a refused request is exit 2 with one line in every subcommand (a problem with
the data stays 1), and a reader that closes the output (`verbatim ask --json … | head`) ends the
command quietly, without a traceback."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, cli_env

from index.config import Settings

SOURCE = "csis-burgeoning-regional-appeal-of-mano-dura.txt"


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], check=False, cwd=ROOT, env=cli_env(settings), capture_output=True, text=True, timeout=600
    )


def test_every_refused_request_is_exit_2_and_one_line(tmp_path, indexed_copy):
    settings = indexed_copy
    (settings.sources_dir / "again.txt").write_text("A note about 4 lighthouses.\n")
    assert _cli(settings, "remove", "--no-build", "again.txt").returncode == 0
    (settings.sources_dir / "again.txt").write_text("A newer note about 5 lighthouses.\n")  # a restore would overwrite it
    refused = {
        ("show", "nonexist.txt"): "no source",
        ("show", SOURCE, "--paragraph", "9999"): "9999",
        ("show", "nonexist.txt", "--dropped"): "no source named 'nonexist.txt'",
        ("remove", "--no-build", "nonexist.txt"): "no source named 'nonexist.txt'",
        ("remove", "--no-build", "sources.toml"): "is the metadata file",
        ("restore", "--no-build", "nonexist.txt"): "no removed source named 'nonexist.txt'",
        ("restore", "--no-build", "again.txt"): "exists again",
        ("add", "--no-build", str(tmp_path / "nothere.txt")): "no such file or folder",
        ("sync", "--no-build", str(tmp_path / "nofolder")): "is not a folder",
        ("ask", "How many prisoners?", "--source", "typo.txt"): "typo.txt",
        ("ask", "How many prisoners?", "--k", "0"): "1 to 50",
        ("models", "fetch", "nomodel"): "unknown model",
        ("restore", "--trash-max-days", "x"): "invalid int value",
    }
    for args, words in refused.items():
        run = _cli(settings, *args)
        assert run.returncode == 2, (args, run.returncode, run.stderr)
        assert words in run.stderr and len(run.stderr.strip().splitlines()) == 1, (args, run.stderr)
        assert "Traceback" not in run.stderr, args
    assert (settings.sources_dir / "again.txt").read_text().startswith("A newer note")  # nothing was overwritten


def test_a_closed_output_ends_ask_quietly(indexed_copy):
    """`verbatim ask --json … | head`: the reader is gone before the answer is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "ask", "How many people are in prison in El Salvador?", "--json"],
        cwd=ROOT, env=cli_env(indexed_copy), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    process.stdout.close()  # as `head` does once it has its lines: every later write is a broken pipe
    stderr = process.stderr.read().decode()
    code = process.wait(timeout=600)
    assert "BrokenPipeError" not in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert code == 0, stderr

    head = subprocess.run(  # the real pipeline
        f"{sys.executable} -m app.cli ask 'How many people are in prison in El Salvador?' --json --k 20 | head -n 3",
        shell=True, check=False, cwd=ROOT, env=cli_env(indexed_copy), capture_output=True, text=True, timeout=600,
    )
    assert head.stdout.startswith("[\n  {\n") and len(head.stdout.splitlines()) == 3 and head.stderr == "", head.stderr
