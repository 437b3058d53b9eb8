"""The Python API (index/collection.py) and metadata filters (index/search/filters.py) in every interface:
a collection built only from memory, searched with filters in Python, reopened in a new process, asked
through the CLI, served by the web app; the Milvus store's filter; the examples of docs/python-api.md and
the README, run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, cli_env, running_server
from index.collection import Collection, Document, DocumentError, document_file
from index.search.filters import FilterError, parse_filter, parse_where
from index.storage.dense import DenseIndex
from ingest.metadata import MetadataError, load_metadata

DOCS = [
    Document("vessby-1874", "The Vessby lighthouse was first lit on 3 May 1874. Its tower is built of granite.",
             title="Harbour history", source="https://example.org/vessby", publisher="Town archive",
             metadata={"year": 1874, "tags": ["lighthouse", "history"]}),
    Document("vessby-1990", "A new automatic light at Vessby was first lit in 1990, and the old lamp was kept.",
             title="Town news", date="1990-06-01", metadata={"year": 1990, "tags": ["lighthouse", "news"]}),
    Document("ostholm lights/1", "The Ostholm lighthouse was first lit in 1921 and guards the northern channel.",
             title="Ostholm guide", date="2021-04", metadata={"year": 1921, "tags": ["lighthouse"], "region": "north"}),
    Document("ferry", "The ferry to Ostholm leaves at seven every morning and returns at six.",
             title="Timetable", metadata={"year": 2024, "tags": ["ferry"], "region": "north"}),
]
QUESTION = "When was the lighthouse first lit?"


def _ids(answer) -> list[str]:
    return [hit.citations[0].meta.id for hit in answer.hits]


@pytest.fixture(scope="module")
def collection(tmp_path_factory, embedder) -> Collection:
    """A collection made only from documents in memory (no file given by the test)."""
    docs = Collection.open(tmp_path_factory.mktemp("api") / "collection", embedder=embedder)
    report = docs.add(DOCS)
    assert (report.sources, report.embedded) == (4, report.passages)
    return docs


# ---------------------------------------------------------------- filter syntax


def test_text_and_dict_forms_parse_to_the_same_filter():
    text = parse_where(["year>=2024", "publisher=CSIS | publisher~wola", "tags in [a, \"b c\"]"])
    as_dict = parse_filter({"$and": [
        {"year": {"$gte": 2024}},
        {"$or": [{"publisher": "CSIS"}, {"publisher": {"$contains": "wola"}}]},
        {"tags": {"$in": ["a", "b c"]}},
    ]})
    assert text == as_dict and text.key == as_dict.key
    assert parse_filter(text.to_dict()) == text  # the dict form reads back
    assert parse_filter("year>=2024") == parse_filter({"year": {"$gte": 2024}})
    assert parse_where([]) is None and parse_filter(None) is None and parse_filter({}) is None


@pytest.mark.parametrize(
    "bad, says",
    [
        ("year>>2", "a range needs a number or an ISO date"),
        ("year>=soon", "a range needs a number or an ISO date"),
        ("tags in a, b", "go in brackets"),
        ("tags in []", "lists no value"),
        ("=3", "cannot read the filter"),
        ("year", "cannot read the filter"),
        ('tags in ["a, b]', "unclosed quote"),
    ],
)
def test_bad_text_filters_are_one_line_errors(bad, says):
    with pytest.raises(FilterError, match=re.escape(says)) as caught:
        parse_where([bad])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "bad, says",
    [
        ({"year": {"$gt": "soon"}}, "a range needs"),
        ({"year": {"$between": [1, 2]}}, "unknown operator '$between'"),
        ({"$nor": []}, "unknown operator '$nor'"),
        ({"$or": []}, "non-empty list"),
        ({"tags": {"$in": []}}, "non-empty list"),
        ({"year": {}}, "has no condition"),
        ({"bad field!": 1}, "is not a field name"),
        ({"year": {"$eq": {"a": 1}}}, "give text, a number"),
    ],
)
def test_bad_dict_filters_are_one_line_errors(bad, says):
    with pytest.raises(FilterError, match=re.escape(says)):
        parse_filter(bad)


def test_filter_values_compare_as_numbers_dates_lists_and_text():
    f = parse_filter
    assert f("year>=2024").matches({"year": "2024"})  # a number given as text is a number
    assert not f("year>=2024").matches({"year": "soon"}) and not f("year>=2024").matches({})
    assert f("date=2024").matches({"date": "2024-05-03"}) and f("date<=2024-05").matches({"date": "2024-05-31"})
    assert not f("date<2024-05").matches({"date": "2024-05-31"}) and f("date>2023").matches({"date": "2024-01-01"})
    assert f("date>=2024").matches({"date": "2024-02-01"}) and not f("date>=2024").matches({"date": "2023-12-31"})
    assert f("tags=b").matches({"tags": ["a", "b"]}) and f("tags in [x, b]").matches({"tags": ["a", "b"]})
    assert not f("tags!=b").matches({"tags": ["a", "b"]}) and not f("tags!=b").matches({})  # absent never matches
    assert f("publisher=csis").matches({"publisher": "CSIS"}) and f("publisher~strategic").matches({"publisher": "Center for Strategic Studies"})
    assert f('id="2024"').matches({"id": "2024"}) and f("draft=false").matches({"draft": False})
    assert f({"$or": [{"a": 1}, {"b": {"$lt": 0.5}}]}).matches({"b": 0.25})


def test_sources_toml_holds_metadata_tables_and_refuses_other_values(tmp_path):
    (tmp_path / "sources.toml").write_text('["a.txt"]\ntitle = "A"\nmetadata = {year = 2024, day = 2024-05-03, tags = ["x"]}\n')
    meta = load_metadata(tmp_path)["a.txt"]
    assert meta.metadata == {"year": 2024, "day": "2024-05-03", "tags": ["x"]}
    (tmp_path / "sources.toml").write_text('["a.txt"]\nmetadata = "2024"\n')
    with pytest.raises(MetadataError, match="metadata of .* must be a table"):
        load_metadata(tmp_path)


def test_documents_are_checked_before_anything_is_written(tmp_path):
    docs = Collection.open(tmp_path / "c")
    for bad, says in [
        (lambda: Document("", "text"), "needs an id"),
        (lambda: Document("x", "  "), "has no text"),
        (lambda: Document("x", "text", metadata={"when": object()}), "JSON cannot hold"),
        (lambda: docs.add([{"text": "no id"}]), "needs 'id' and 'text'"),
        (lambda: docs.add([Document("x", "one"), Document("x", "two")]), "two documents of one add have the id 'x'"),
    ]:
        with pytest.raises(DocumentError, match=re.escape(says)):
            bad()
    assert not (tmp_path / "c" / "sources" / "documents").exists()
    assert document_file("a/b c") != document_file("a_b_c") and document_file("plain-1") == "documents/plain-1.txt"


# ---------------------------------------------------------------- the filter applies before ranking


def test_dense_search_within_allowed_rows_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.integers(0, 2**60, 3000)
    allowed = np.zeros(3000, dtype=bool)
    allowed[::7] = True
    dense = DenseIndex.build(vectors, ids)
    found, scores = dense.search(vectors[3], 20, allowed)
    exact = np.flatnonzero(allowed)[np.argsort(-(vectors[allowed] @ vectors[3]))[:20]]
    assert list(found) == list(ids[exact]) and np.allclose(scores, np.sort(vectors[allowed] @ vectors[3])[::-1][:20], atol=1e-5)
    assert len(dense.search(vectors[3], 20, np.zeros(3000, dtype=bool))[0]) == 0
    graph = DenseIndex.build(vectors, ids, ann_threshold=1000)  # HNSW: a narrow filter scans the graph's vectors
    assert graph.approximate
    assert list(graph.search(vectors[3], 20, allowed, exact=True)[0]) == list(ids[exact])
    walked, _ = graph.search(vectors[3], 20, allowed)  # the graph walked with the filter: only allowed rows
    assert set(walked) <= set(ids[allowed]) and len(walked) == 20


def test_filters_choose_documents_before_ranking(collection):
    assert _ids(collection.search(QUESTION, where={"year": {"$lt": 1900}}, k=3)) == ["vessby-1874"]
    assert set(_ids(collection.search(QUESTION, where="region=north", k=5))) <= {"ostholm lights/1", "ferry"}
    assert "ostholm lights/1" in _ids(collection.search(QUESTION, where="region=north", k=5))
    both = collection.search(QUESTION, where=["tags in [lighthouse]", "year>=1900 | publisher~archive"], k=5)
    assert set(_ids(both)) == {"vessby-1874", "vessby-1990", "ostholm lights/1"}
    assert collection.search(QUESTION, where="date>=2021").hits[0].citations[0].meta.id == "ostholm lights/1"  # 2021-04
    nothing = collection.search(QUESTION, where="year>3000")
    assert nothing.abstained and not nothing.hits
    # One candidate per retriever: a filter applied to the candidates afterwards would keep nothing of a
    # lighthouse document neither retriever put first; applied before, it is found.
    narrow = Collection(collection.path, candidates=1, rerank=False)
    index = narrow.searcher.index()
    first = {f for row in narrow.searcher.candidates(QUESTION).rows for f in index.passages[row].files}
    other = next(d.id for d in DOCS[:3] if d.file not in first)
    assert _ids(narrow.search(QUESTION, k=1, where={"id": other})) == [other]


def test_memory_documents_behave_like_files(collection):
    doc = collection.get("vessby-1874")
    assert doc.text == DOCS[0].text and doc.title == "Harbour history" and doc.metadata["tags"] == ["lighthouse", "history"]
    hit = collection.search(QUESTION, where={"year": 1874}).hits[0]
    citation = hit.citations[0]
    assert citation.meta.url == "https://example.org/vessby" and citation.occurrence.file == "documents/vessby-1874.txt"
    version = collection.searcher.index()
    assert version.sources[citation.occurrence.file].text[citation.occurrence.start : citation.occurrence.end] == hit.passage.text
    assert [m.id for m in collection.documents("year<1950")] == ["ostholm lights/1", "vessby-1874"]


def test_updates_reembed_only_new_text_and_removal_goes_to_the_trash(tmp_path, embedder):
    docs = Collection.open(tmp_path / "c", embedder=embedder)
    docs.add(DOCS[:2])
    before = docs.searcher.index().path
    same = docs.add([DOCS[0]])  # the same document again: nothing read or embedded
    assert (same.embedded, same.reused) == (0, 2)
    moved = docs.update(Document("vessby-1874", DOCS[0].text, title="Harbour history", metadata={"year": 1875}))
    assert moved.embedded == 0  # metadata only
    assert docs.searcher.index().path != before  # a new version, switched in
    assert _ids(docs.search(QUESTION, where="year=1875", k=1)) == ["vessby-1874"]
    changed = docs.update(Document("vessby-1990", "The automatic light at Vessby dates from 1990.", metadata={"year": 1990}))
    assert changed.embedded == 1 and changed.reused == 1
    with pytest.raises(KeyError, match="no document with the id 'nope'"):
        docs.remove(["vessby-1990", "nope"])
    docs.remove("vessby-1990")
    assert len(docs) == 1 and list((tmp_path / "c" / "sources" / ".trash").iterdir())
    assert "vessby-1990" not in (tmp_path / "c" / "sources" / "sources.toml").read_text()


# ---------------------------------------------------------------- another process, the CLI, the web app


def test_collection_reopened_in_a_new_process_asked_by_cli_and_served(collection, tmp_path):
    script = (
        "import json, sys\nfrom index.collection import Collection\n"
        "docs = Collection.open(sys.argv[1], create=False)\n"
        "answer = docs.search('When was the lighthouse first lit?', where={'region': 'north', 'tags': 'lighthouse'})\n"
        "print(json.dumps([h.citations[0].meta.id for h in answer.hits]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(collection.path)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["ostholm lights/1"]

    env = cli_env(collection.settings)
    ask = [sys.executable, "-m", "app.cli", "ask", QUESTION, "--json", "--no-rerank"]
    out = subprocess.run(ask + ["--where", "year<1900"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    records = json.loads(out.stdout)
    assert [r["id"] for r in records] == ["vessby-1874"] and records[0]["metadata"]["year"] == 1874
    out = subprocess.run(ask + ["--where", "tags in [ferry]", "--where", "year>=2000 | region=south"], capture_output=True, text=True, env=env, timeout=300)
    assert [r["id"] for r in json.loads(out.stdout)] == ["ferry"]
    out = subprocess.run(ask + ["--where", "year>>1900"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "--where: year>>1900: a range needs a number or an ISO date" in out.stderr

    from gradio_client import Client

    with running_server(collection.settings, tmp_path / "serve.log") as url:
        client = Client(url, verbose=False)
        reply = client.predict(QUESTION, 5, "hybrid", "tags in [lighthouse]\nyear>=1900", api_name="/ask")
        assert {r["id"] for r in reply["results"]} == {"vessby-1990", "ostholm lights/1"}
        assert client.predict(QUESTION, 5, "hybrid", "", api_name="/ask")["results"]  # no filter: every document
        bad = client.predict(QUESTION, 5, "hybrid", "year in 1990", api_name="/ask")
        assert bad["results"] == [] and "The filter cannot be read: the values of year in … go in brackets" in bad["error"]
        history, _ = client.predict(QUESTION, [], 3, "hybrid", [], False, "region=north", api_name="/chat")
        reply = history[-1]["content"][0]["text"] if isinstance(history[-1]["content"], list) else history[-1]["content"]
        assert "Ostholm" in reply and "Vessby" not in reply
        # "Read in context": the source page shows the document's stored text, like a file's.
        import urllib.parse
        import urllib.request

        link = f"{url}source?file={urllib.parse.quote(document_file('ostholm lights/1'))}&paragraph=1"
        with urllib.request.urlopen(link, timeout=60) as page:
            assert page.status == 200 and "guards the northern channel" in page.read().decode("utf-8")


# ---------------------------------------------------------------- Milvus


def test_milvus_store_filters_with_its_scalar_filter(tmp_path, embedder):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    results = {}
    for store, lexical in (("faiss", "bm25s"), ("milvus", "bm25s"), ("milvus", "milvus")):
        docs = Collection.open(tmp_path / f"{store}-{lexical}", embedder=embedder, store=store, lexical=lexical, rerank=False)
        docs.add(DOCS)
        results[store, lexical] = [
            _ids(docs.search(QUESTION, where=w, k=3)) for w in ("region=north", {"year": {"$lt": 1950}}, "year>3000")
        ]
    assert results["milvus", "bm25s"] == results["faiss", "bm25s"]
    assert results["milvus", "milvus"][2] == [] and set(results["milvus", "milvus"][0]) <= {"ostholm lights/1", "ferry"}
    assert set(results["faiss", "bm25s"][1]) == {"vessby-1874", "ostholm lights/1"}


# ---------------------------------------------------------------- the documented examples, as written


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("page", ["docs/python-api.md", "README.md"])
def test_documented_example_runs_as_written(page, tmp_path):
    code = _python_blocks(ROOT / page)[0]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "lit" in out.stdout
