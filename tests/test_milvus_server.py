"""`--milvus-uri http://…` against a real Milvus server process: the standalone Milvus 2.3.5 that the PyPI
package `milvus` bundles, started on 127.0.0.1 by this module. Build, ask, incremental update and the
gold eval match FAISS; `--lexical milvus` (BM25 functions, Milvus >= 2.5) is a clear error on 2.3."""

from __future__ import annotations

import json
import subprocess

import pytest

from app.cli import main as cli_main
from conftest import free_port
from index.storage.store import load_version
from index.storage.vector_store import collection_names, milvus_client
from test_vector_store import _hits as hits_of

milvus = pytest.importorskip("milvus")

QUESTION = "How many people are in prison in El Salvador?"
HARBOUR = "# Harbour Survey\n\nThe harbour survey of 2024 counted 212 fishing boats in the port of Acajutla.\n"


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """A Milvus standalone server on a free loopback port, its data in a temporary folder."""
    server = milvus.MilvusServer(proxy_port=free_port())
    server.set_base_dir(str(tmp_path_factory.mktemp("milvus-server")))
    server.start()  # waits for its health check
    try:
        yield f"http://127.0.0.1:{server.config.get('proxy_port')}"
    finally:
        _stop(server)


def _stop(server) -> None:
    # MilvusServer.stop() gives the process 1 s to exit and 3 s to die; a loaded machine needs longer
    # to reap it (Milvus 2.3 often ignores SIGTERM for tens of seconds: its data is temporary anyway).
    process = server.server_proc
    if process is not None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=60)
    server.stop()


def _common(sources, index_dir, uri, lexical="bm25s") -> list[str]:
    return ["--sources-dir", str(sources), "--index-dir", str(index_dir), "--store", "milvus", "--milvus-uri", uri,
            "--lexical", lexical]


@pytest.mark.slow
def test_server_build_ask_update_and_eval_match_faiss(milvus_server, bundled_settings, sources_copy, tmp_path, capsys):
    common = _common(sources_copy, tmp_path / "index", milvus_server)
    assert cli_main(["build", *common]) == 0
    version = load_version(tmp_path / "index", expected_store="milvus")
    entry = version.manifest.vector_store
    assert entry["uri"] == milvus_server and entry["upserted"] == len(version.passages)
    client = milvus_client(milvus_server)
    assert client.get_server_version().startswith("v2.3")  # a real server answered, not milvus-lite
    capsys.readouterr()
    assert cli_main(["ask", *common, "--json", QUESTION]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert any("119,000" in r["text"] for r in answer[:3])

    # Same gold hit@k and MRR as FAISS on the same sources.
    results = {}
    for name, args in (("milvus", common), ("faiss", ["--sources-dir", str(bundled_settings.sources_dir),
                                                      "--index-dir", str(bundled_settings.index_dir)])):
        out = tmp_path / f"{name}.json"
        with pytest.MonkeyPatch.context() as env:
            if name == "faiss":  # the shared bundled index was built with its multilingual part: keep it
                env.setenv("VERBATIM_MULTILINGUAL", "1")
            assert cli_main(["eval", *args, "--mode", "all", "--no-rerank", "--json", str(out)]) == 0
        results[name] = hits_of(json.loads(out.read_text()))
    capsys.readouterr()
    assert results["milvus"] == results["faiss"]

    # An added source goes to the other collection by upsert; the alias follows; the new text is found.
    (sources_copy / "harbour.md").write_text(HARBOUR)
    assert cli_main(["build", *common]) == 0
    updated = load_version(tmp_path / "index", expected_store="milvus")
    new = [p for p in updated.passages if "harbour.md" in p.files]
    assert updated.manifest.vector_store["collection"] != entry["collection"]
    assert client.describe_alias(collection_names(tmp_path / "index")[2])["collection_name"] == updated.manifest.vector_store["collection"]
    capsys.readouterr()
    assert cli_main(["ask", *common, "--json", "How many fishing boats did the harbour survey count?"]) == 0
    answer = next(p for p in new if "212 fishing boats" in p.text)
    assert json.loads(capsys.readouterr().out)[0]["text"] == answer.text


def test_full_text_search_on_a_2_3_server_is_a_clear_error(milvus_server, sources_copy, tmp_path, capsys):
    index_dir = tmp_path / "index"
    assert cli_main(["build", *_common(sources_copy, index_dir, milvus_server, lexical="milvus")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the Milvus server at http://127.0.0.1:") and "no BM25 full-text search" in err
    assert "--lexical bm25s" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not any(name in milvus_client(milvus_server).list_collections() for name in collection_names(index_dir))
    assert not (index_dir / "CURRENT").exists()
