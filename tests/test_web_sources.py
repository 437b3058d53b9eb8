"""The Sources tab through the app's HTTP API: upload (sanitized, limited), remove, rebuild."""

import html

import pytest
from gradio_client import Client, handle_file

from index.config import Settings
from index.build import build_index

from conftest import running_server


@pytest.fixture()
def library_server(tmp_path, sources_copy, embedder):
    settings = Settings(sources_dir=sources_copy, index_dir=tmp_path / "index")
    build_index(settings, embedder=embedder)
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
