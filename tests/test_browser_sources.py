"""The Sources tab in a real browser (Debian chromium + playwright): lists computed per page load,
removal only after a choice and a confirmation, restore from the trash, uploads never sent twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_env, served_copy_of_sources

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian chromium not installed")
LATE = "late_added.txt"


@pytest.fixture(scope="module")
def app(tmp_path_factory, bundled_settings):
    with served_copy_of_sources(tmp_path_factory.mktemp("browser-sources"), bundled_settings) as (url, settings):
        yield url, settings


@pytest.fixture()
def page(app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app[0])
        yield page
        browser.close()


def _close_list(page) -> None:
    page.locator("h2").first.click()  # a click outside closes the option list
    page.wait_for_timeout(300)


def _options(page, field: str) -> list[str]:
    page.locator(f"#{field} input").click()
    page.wait_for_timeout(500)
    labels = page.locator(f"#{field}").get_by_role("option").evaluate_all("items => items.map(i => i.getAttribute('aria-label'))")
    _close_list(page)
    return labels


def _choose(page, field: str, value: str) -> None:
    page.locator(f"#{field} input").click()
    page.wait_for_timeout(500)  # the list opens with an animation; an option clicked mid-way is "not stable"
    page.locator(f"#{field}").get_by_role("option", name=value, exact=True).click()
    page.wait_for_timeout(300)


def _status(page, text: str) -> str:
    """The status line once it holds `text` (a read-only text box: plain text, shown as written)."""
    box = "#vb-status textarea"
    page.wait_for_function("([box, text]) => document.querySelector(box)?.value.includes(text)", arg=[box, text], timeout=180_000)
    return page.locator(box).input_value()


def _sources_tab(page) -> None:
    page.get_by_role("tab", name="Sources").click()
    page.locator("#vb-sources").get_by_text("csis-burgeoning", exact=False).first.wait_for(timeout=30_000)


def test_a_fresh_page_offers_sources_added_after_start_up(app, page, tmp_path):
    url, settings = app
    late = tmp_path / LATE
    late.write_text("Late Addition\n\nThe lighthouse of Marrow Point was first lit in 1871.\n")
    run = subprocess.run([sys.executable, "-m", "app.cli", "add", str(late)], env=cli_env(settings), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    page.reload()
    _sources_tab(page)
    assert LATE in _options(page, "vb-doomed")
    assert page.locator("#vb-doomed input").input_value() == ""  # nothing preselected
    page.get_by_role("tab", name="Ask").click()
    assert "Late Addition" in _options(page, "vb-files")
    _choose(page, "vb-files", "Late Addition")
    _close_list(page)
    page.locator("#vb-question textarea").fill("When was the lighthouse first lit?")
    page.locator("#vb-ask").click()
    page.locator("#vb-chat mark").first.wait_for(timeout=60_000)
    assert "1871" in page.locator("#vb-chat").inner_text() and LATE in page.locator("#vb-chat").inner_text()


def test_removing_takes_a_choice_and_a_confirmation_and_can_be_undone(app, page):
    _, settings = app
    target = "wola-podcast-grim-side-of-el-salvador-security-model.txt"
    _sources_tab(page)
    page.locator("#vb-remove").click()
    _status(page, "Choose a source to remove first.")
    assert not page.locator("#vb-confirm").is_visible()

    _choose(page, "vb-doomed", target)
    page.locator("#vb-remove").click()
    page.locator("#vb-confirm").wait_for(state="visible", timeout=10_000)
    _status(page, f"Remove {target} from the sources?")
    assert page.locator("#vb-remove-yes").inner_text() == f"Yes, remove {target}"
    page.locator("#vb-remove-cancel").click()
    _status(page, "Nothing was removed.")
    assert (settings.sources_dir / target).exists()
    assert not page.locator("#vb-confirm").is_visible()

    page.locator("#vb-remove").click()
    page.locator("#vb-remove-yes").click()
    status = _status(page, f"Removed {target}")
    assert "Indexed " in status
    assert not (settings.sources_dir / target).exists()
    assert target not in page.locator("#vb-sources").inner_text()
    assert target not in _options(page, "vb-doomed")
    trashed = [label for label in _options(page, "vb-trashed") if label.startswith(f"{target} (removed ")]
    assert len(trashed) == 1

    _choose(page, "vb-trashed", trashed[0])
    page.locator("#vb-restore").click()
    _status(page, f"Restored {target}")
    assert (settings.sources_dir / target).exists()
    assert 'date = "2025-10-09"' in (settings.sources_dir / "sources.toml").read_text().split(f'["{target}"]')[1]
    page.locator("#vb-sources").get_by_text(target).first.wait_for(timeout=10_000)


def test_a_second_upload_never_sends_the_first_again(app, page, tmp_path):
    _, settings = app
    first = tmp_path / "first_note.txt"
    first.write_text("The first note says the ferry carried 48 cars.\n")
    second = tmp_path / "second_note.txt"
    second.write_text("The second note says the bridge closed in March.\n")
    _sources_tab(page)
    page.locator("#vb-upload input[type=file]").set_input_files(str(first))
    _status(page, "Added first_note.txt")
    assert page.locator("#vb-upload").get_by_text("first_note.txt").count() == 0  # the widget was emptied
    _choose(page, "vb-doomed", "first_note.txt")
    page.locator("#vb-remove").click()
    page.locator("#vb-remove-yes").click()
    _status(page, "Removed first_note.txt")
    page.locator("#vb-upload input[type=file]").set_input_files(str(second))
    status = _status(page, "Added second_note.txt")
    assert "first_note" not in status
    assert not (settings.sources_dir / "first_note.txt").exists()


def test_the_confirmation_removes_what_it_names(app, page):
    """Issue 26, item 13: choose one source, press Remove, then choose another: the confirmation that named
    the first is withdrawn, nothing is removed, and the next confirmation names and removes the second."""
    _, settings = app
    first, second = "wola-podcast-grim-side-of-el-salvador-security-model.txt", "csis-burgeoning-regional-appeal-of-mano-dura.txt"
    _sources_tab(page)
    _choose(page, "vb-doomed", first)
    page.locator("#vb-remove").click()
    page.locator("#vb-confirm").wait_for(state="visible", timeout=10_000)
    assert page.locator("#vb-remove-yes").inner_text() == f"Yes, remove {first}"
    _choose(page, "vb-doomed", second)
    _status(page, f"Nothing was removed: the choice changed from {first}")
    page.locator("#vb-confirm").wait_for(state="hidden", timeout=10_000)
    assert (settings.sources_dir / first).exists() and (settings.sources_dir / second).exists()

    page.locator("#vb-remove").click()
    page.locator("#vb-confirm").wait_for(state="visible", timeout=10_000)
    assert page.locator("#vb-remove-yes").inner_text() == f"Yes, remove {second}"
    page.locator("#vb-remove-yes").click()
    _status(page, f"Removed {second}")
    assert (settings.sources_dir / first).exists() and not (settings.sources_dir / second).exists()
    # Put it back for the other tests of this module.
    trashed = [label for label in _options(page, "vb-trashed") if label.startswith(f"{second} (removed ")]
    _choose(page, "vb-trashed", trashed[0])
    page.locator("#vb-restore").click()
    _status(page, f"Restored {second}")
