"""The Sources tab through the app's HTTP API: upload (sanitized, limited), remove, rebuild."""

import html

import pytest
from gradio_client import Client, handle_file


from conftest import running_server


@pytest.fixture()
def library_server(tmp_path, indexed_copy):
    settings = indexed_copy
    with running_server(settings, tmp_path / "serve.log") as url:
        yield Client(url, verbose=False), settings


def test_upload_ask_remove(tmp_path, library_server):
    client, settings = library_server
    upload_dir = tmp_path / "upload"
    upload_dir.mkdir()
    good = upload_dir / "harbour report.md"
    good.write_text("# Harbour Report\n\nThe harbour survey counted 212 fishing boats in 2024.\n")
    bad = upload_dir / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not a real pdf")
    status, table, *_ = client.predict([handle_file(str(good)), handle_file(str(bad))], api_name="/upload")
    status = html.unescape(status)  # the status is Markdown with source-derived text as inert entities
    assert "Added harbour report.md: Harbour Report" in status
    assert "Skipped broken.pdf" in status and "PDF" in status
    rows = {row[0]: row for row in table["data"]}
    assert rows["harbour report.md"][4] == 2  # its heading and its paragraph
    assert (settings.sources_dir / "harbour report.md").exists()
    assert not (settings.sources_dir / "broken.pdf").exists()

    reply = client.predict("How many fishing boats did the survey count?", 3, "hybrid", api_name="/ask")
    assert "212 fishing boats" in reply["results"][0]["text"]

    status, table, *_ = client.predict("harbour report.md", api_name="/remove")
    status = html.unescape(status)
    assert "Removed harbour report.md" in status
    assert "harbour report.md" not in {row[0] for row in table["data"]}
    reply = client.predict("How many fishing boats did the survey count?", 3, "hybrid", api_name="/ask")
    assert all("212 fishing boats" not in r["text"] for r in reply["results"])


def test_upload_cannot_escape_the_sources_folder(tmp_path, library_server):
    client, settings = library_server
    sneaky = tmp_path / "..evil.md"
    sneaky.write_text("# Evil\n\nThis file tries to leave the sources folder.\n")
    status, *_ = client.predict([handle_file(str(sneaky))], api_name="/upload")
    status = html.unescape(status)
    assert "Added evil.md" in status
    assert (settings.sources_dir / "evil.md").exists()
    assert not (settings.sources_dir.parent / "evil.md").exists()


def test_upload_refuses_other_types_and_oversized_files(tmp_path, library_server):
    from ingest.library import MAX_FILE_BYTES

    client, settings = library_server
    before = sorted(p.name for p in settings.sources_dir.iterdir())
    upload_dir = tmp_path / "upload"
    upload_dir.mkdir()
    pickled = upload_dir / "model.pkl"
    pickled.write_bytes(b"\x80\x04\x95cos\nsystem\n(S'echo pwned'\ntR.")
    program = upload_dir / "setup.exe"
    program.write_bytes(b"MZ\x90\x00" + b"\x00" * 64)
    try:
        status, *_ = client.predict([handle_file(str(pickled)), handle_file(str(program))], api_name="/upload")
    except Exception as exc:  # Gradio may refuse the types before our code sees them; either way, clearly.
        status = str(exc)
    assert "Invalid file type" in status or ("Skipped model.pkl" in status and "Skipped setup.exe" in status), status
    huge = upload_dir / "huge.txt"
    with huge.open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1024)
    with pytest.raises(Exception, match="(?i)size|large|413"):
        client.predict([handle_file(str(huge))], api_name="/upload")
    assert sorted(p.name for p in settings.sources_dir.iterdir()) == before
    # Nothing lost: the index still answers from every original source.
    reply = client.predict("How many people are in prison in El Salvador?", 5, "hybrid", api_name="/ask")
    assert any("119,000" in r["text"] for r in reply["results"])


def _text(message: dict) -> str:
    """A chat message's text, whether the client gives a string or a list of parts."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


@pytest.fixture(scope="module")
def shared_library(tmp_path_factory, bundled_settings):
    """One app over a writable copy of the sources, shared by the tests below (a server start each would cost ~30 s)."""
    from conftest import served_copy_of_sources

    with served_copy_of_sources(tmp_path_factory.mktemp("shared-library"), bundled_settings) as (url, settings):
        yield Client(url, verbose=False), settings


def test_sources_added_or_broken_while_the_app_runs(tmp_path, shared_library):
    """A source added by the CLI after start-up can be searched by name; a broken sources.toml is one
    line in the Sources tab and the app keeps answering from the last good index."""
    import subprocess
    import sys

    from conftest import cli_env

    client, settings = shared_library
    late = tmp_path / "late_added.txt"
    late.write_text("The lighthouse of Marrow Point was first lit in 1871.\n")
    run = subprocess.run([sys.executable, "-m", "app.cli", "add", str(late)], env=cli_env(settings), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    history, _ = client.predict("When was the lighthouse first lit?", [], 3, "hybrid", ["late_added.txt"], False, api_name="/chat")
    assert "1871" in _text(history[-1]) and "late&#95;added.txt" in _text(history[-1])
    history, _ = client.predict("When was the lighthouse first lit?", [], 3, "hybrid", ["no_such.txt"], False, api_name="/chat")
    assert "No indexed source named" in html.unescape(_text(history[-1]))

    toml = settings.sources_dir / "sources.toml"
    good = toml.read_text()
    toml.write_text(good + '\n["late_added.txt"]\ntitle = "again"\n')
    status, *_ = client.predict(api_name="/rebuild")
    status = html.unescape(status)
    assert 'sources.toml, line' in status and 'appears twice; delete one of them' in status and "previous index is still live" in status
    assert status.count("appears twice") == 1  # said once, not again as the Sources tab's problem (issue 34)
    assert str(settings.sources_dir) not in status and str(settings.sources_dir.parent) not in status  # no server paths
    reply = client.predict("How many people are in prison in El Salvador?", 5, "hybrid", api_name="/ask")
    assert any("119,000" in r["text"] for r in reply["results"])
    toml.write_text(good)
    status, *_ = client.predict(api_name="/rebuild")
    assert "Indexed 5 sources" in html.unescape(status)


@pytest.mark.parametrize(
    "question, k, expected",
    [
        ("How many prisoners?", 0, "from 1 to 50; 0 was asked for"),
        ("How many prisoners?", 10000, "from 1 to 50; 10000 was asked for"),
        ("How many prisoners?", "abc", "must be a whole number from 1 to 50, not 'abc'"),
        (["How many prisoners?"], 5, "The question must be text, not list."),
        (12345, 5, "The question must be text, not int."),
    ],
)
def test_api_arguments_get_clear_replies(server_url, question, k, expected):
    client = Client(server_url, verbose=False)
    reply = client.predict(question, k, "hybrid", api_name="/ask")
    assert reply["results"] == [] and expected in reply["error"]


def test_remove_and_restore_through_the_api(shared_library):
    client, settings = shared_library
    name = "wola-podcast-grim-side-of-el-salvador-security-model.txt"
    status, table, *_ = client.predict(name, api_name="/remove")
    assert f"Removed {name}" in html.unescape(status) and name not in {row[0] for row in table["data"]}
    status, *_ = client.predict("sources.toml", api_name="/remove")
    assert "is the metadata file, not a source" in html.unescape(status)
    status, table, *_ = client.predict(name, api_name="/restore")
    assert f"Restored {name}" in html.unescape(status) and name in {row[0] for row in table["data"]}
    assert 'date = "2025-10-09"' in (settings.sources_dir / "sources.toml").read_text().split(f'["{name}"]')[1]


def test_api_replies_are_plain_short_and_name_no_path(shared_library):
    """Issue 26, item 7: /remove and /upload statuses are plain text (no HTML entities), no reply shows the
    server's folders, and an absurd k is not echoed."""
    client, settings = shared_library
    hostile = "<b>a</b> & b.txt"
    status, *_ = client.predict(hostile, api_name="/remove")
    assert "&#" not in status and "&amp;" not in status and hostile in status
    assert str(settings.sources_dir) not in status and "/tmp" not in status
    reply = client.predict("How many prisoners?", 1e300, "hybrid", api_name="/ask")
    assert reply["results"] == [] and reply["error"] == "The number of passages must be from 1 to 50."
    reply = client.predict("How many prisoners?", 5, "x" * 10_000, api_name="/ask")
    assert len(reply["error"]) < 120


def test_a_question_in_another_language_gets_a_note(shared_library):
    """Issue 26, item 9: the API and the chat say the question looks like Spanish and suggest English."""
    client, _ = shared_library
    reply = client.predict("¿Cuántas personas están presas en El Salvador?", 5, "hybrid", api_name="/ask")
    assert "looks like it is in Spanish" in reply["note"] and "please ask in English" in reply["note"]
    assert client.predict("How many people are in prison in El Salvador?", 5, "hybrid", api_name="/ask")["note"] == ""
    history, _ = client.predict("¿Quién es Nayib Bukele?", [], 3, "hybrid", [], False, api_name="/chat")
    assert "looks like it is in Spanish" in html.unescape(_text(history[-1]))
    history, _ = client.predict("Who is Nayib Bukele?", [], 3, "hybrid", [], False, api_name="/chat")
    assert "looks like" not in html.unescape(_text(history[-1]))


def test_every_removal_can_be_restored_from_the_app_by_its_id(tmp_path, shared_library):
    """Two removals of one name are both listed, each by its own id, and the older one comes back."""
    from app.web import trash_choices
    from ingest.library import add_sources, remove_source

    client, settings = shared_library
    for text in ("Harbour log, first version: 11 boats.", "Harbour log, second version: 12 boats."):
        (tmp_path / "harbour-log.txt").write_text(text, encoding="utf-8")
        add_sources([tmp_path / "harbour-log.txt"], settings.sources_dir, trash_dir=settings.trash)
        remove_source("harbour-log.txt", settings.sources_dir, settings.trash)
    ids = [value for label, value in trash_choices(settings) if label.startswith("harbour-log.txt")]
    assert len(ids) == 2 and len(set(ids)) == 2
    status, table, *_ = client.predict(ids[-1], api_name="/restore")  # most recent first: the last is the older
    assert "Restored harbour-log.txt" in status and "harbour-log.txt" in {row[0] for row in table["data"]}
    assert (settings.sources_dir / "harbour-log.txt").read_text(encoding="utf-8") == "Harbour log, first version: 11 boats."


def test_a_synced_copy_removed_says_the_sync_brings_it_back_and_identical_bytes_are_unchanged(tmp_path, shared_library):
    """Issue 34, low items: removing a file `verbatim sync` keeps says what the next sync does (not
    "Restore brings it back"), without the folder's path; an upload of bytes already there says
    "Unchanged", as `verbatim add` does, and rebuilds nothing."""
    import subprocess
    import sys

    from conftest import cli_env

    client, settings = shared_library
    folder = tmp_path / "tidelog"
    folder.mkdir()
    (folder / "tide.txt").write_text("The tide at Orrin Quay rose 4 metres on 2 May.\n")
    run = subprocess.run([sys.executable, "-m", "app.cli", "sync", "--no-build", str(folder)], env=cli_env(settings),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    status, *_ = client.predict("tidelog/tide.txt", api_name="/remove")
    status = html.unescape(status)
    assert "Removed tidelog/tide.txt" in status and "the next sync adds it again" in status, status
    assert "Restore brings it back" not in status and str(tmp_path) not in status
    run = subprocess.run([sys.executable, "-m", "app.cli", "sync", "--no-build", str(folder)], env=cli_env(settings),
                         capture_output=True, text=True, timeout=600)
    assert "added tidelog/tide.txt" in run.stdout  # what the message said

    upload = tmp_path / "quay-notes.txt"
    upload.write_text("Quay notes: the crane at Orrin Quay lifts 40 tonnes.\n")
    status, *_ = client.predict([handle_file(str(upload))], api_name="/upload")
    assert "Added quay-notes.txt" in html.unescape(status)
    status, *_ = client.predict([handle_file(str(upload))], api_name="/upload")
    status = html.unescape(status)
    assert "Unchanged quay-notes.txt: the same bytes are already a source." in status and "Added" not in status
    assert "Indexed" not in status  # nothing new, no rebuild
    cli = subprocess.run([sys.executable, "-m", "app.cli", "add", "--no-build", str(upload)], env=cli_env(settings),
                         capture_output=True, text=True, timeout=600)
    assert "unchanged quay-notes.txt: the same bytes are already a source" in cli.stdout  # the same words
