"""A publication date the document states in its text fills a date its metadata lacks (issue 34, low item)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from index.config import Settings
from ingest.metadata import stated_date
from tests.conftest import cli_env


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("A report\n\nPublished: 3 March 2024\n\nIt says things.", "2024-03-03"),
        ("Release Date: 2025-10-09\nText.", "2025-10-09"),
        ("Posted on May 5th, 2024\n", "2024-05-05"),
        ("Date: March 2024\n", "2024-03"),
        ("Release Date: 13/09/2025\n", "2025-09-13"),
        ("Release Date: 10/09/2025\n", "10/09/2025"),  # day and month could be swapped: kept as written
        ("The law was passed on March 5, 2024, by the assembly.\n", ""),  # an event, not the document's date
        ("Date: 2024-02-30\n", ""),  # no such day
        ("\n".join(["A line."] * 60) + "\nPublished: 3 March 2024\n", ""),  # far below the top
    ],
)
def test_a_stated_date_is_read_and_nothing_else(text, date):
    assert stated_date(text) == date


def test_add_takes_the_date_from_the_text_and_sources_shows_it(tmp_path):
    settings = Settings(sources_dir=tmp_path / "sources", index_dir=tmp_path / "index")
    doc = tmp_path / "report.txt"
    doc.write_text("Harbour report\n\nPublished: 3 March 2024\n\nThe harbour holds 40 boats in winter.\n", encoding="utf-8")
    run = lambda *args: subprocess.run([sys.executable, "-m", "app.cli", *args], env=cli_env(settings), capture_output=True, text=True, timeout=300)  # noqa: E731
    added = run("add", "--no-build", str(doc))
    assert added.returncode == 0, added.stderr
    assert 'date = "2024-03-03"' in (settings.sources_dir / "sources.toml").read_text(encoding="utf-8")
    listed = run("sources")
    assert "2024-03-03" in listed.stdout and "date unknown" not in listed.stdout
