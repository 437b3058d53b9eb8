"""Progress lines for builds whose stderr is not a terminal."""

from __future__ import annotations

import io
import subprocess
import sys
import time

from index.config import Settings
from index.build.progress import ProgressLines, counted

from conftest import cli_env


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_says_done_total_rate_and_eta():
    clock = Clock()
    lines = ProgressLines("embedding", 2000, "passages", stream=io.StringIO(), clock=clock)
    assert lines.line() == "embedding: 0/2,000 passages (0.0%), 0.0/s, ETA unknown"
    clock.now += 20
    lines.update(512)
    assert lines.line() == "embedding: 512/2,000 passages (25.6%), 25.6/s, ETA 58s"
    clock.now += 60
    lines.update(2000)
    assert lines.line() == "embedding: 2,000/2,000 passages (100.0%) in 1m20s, 25.0/s"


def test_lines_come_at_the_interval_and_at_the_end():
    out = io.StringIO()
    with ProgressLines("reading sources", 3, "files", stream=out, interval=0.05) as lines:
        lines.current = "big.txt"
        time.sleep(0.3)
        lines.update(3)
    written = out.getvalue().splitlines()
    assert len(written) >= 3  # several while waiting, one at the end
    assert written[0].startswith("reading sources: 0/3 files (0.0%), 0.0/s, ETA unknown, now big.txt")
    assert written[-1].startswith("reading sources: 3/3 files (100.0%) in ")


def test_counted_counts_an_item_when_the_next_is_taken():
    out = io.StringIO()
    seen = []
    for item in counted(["a.txt", "b.txt"], "reading sources", "files", stream=out, interval=60):
        seen.append(item)
    assert seen == ["a.txt", "b.txt"]
    assert out.getvalue().splitlines()[-1].startswith("reading sources: 2/2 files (100.0%) in ")
    assert list(counted([1, 2], "x", "y", enabled=False)) == [1, 2]


def test_cli_build_writes_progress_lines_when_stderr_is_a_file(tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    settings.sources_dir.mkdir()
    (settings.sources_dir / "a.txt").write_text("The harbour survey counted 212 fishing boats in 2024.\n")
    run = subprocess.run([sys.executable, "-m", "app.cli", "build"], env=cli_env(settings), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert any(line.startswith("reading sources: 1/1 files (100.0%) in ") for line in lines), run.stderr
    assert any(line.startswith("embedding: 1/1 passages (100.0%) in ") for line in lines), run.stderr
