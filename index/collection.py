"""The Python API: a collection of documents given as text (or files), searched with metadata filters.

    from index.collection import Collection, Document

    docs = Collection.open("my-collection")                       # created when missing
    docs.add([Document("a1", "The lighthouse was first lit in 1874.", title="Harbour notes",
                       metadata={"year": 1874, "tags": ["harbour"]})])
    answer = docs.search("When was the lighthouse first lit?", where={"year": {"$lt": 1900}})

A collection is a folder: `sources/` (what `verbatim` indexes) and `index/` (its versions). A document
given as text is kept as a UTF-8 file, `sources/documents/<id>.txt`, and its title, source, authors,
publisher, date, id and metadata as its table in `sources/sources.toml`: from there it takes the one path
files take (index/build/pipeline.py), so it is cited, read in context (the stored text), rebuilt
incrementally (an unchanged document is not re-embedded) and switched in atomically like any file, and
`verbatim serve --sources-dir DIR/sources --index-dir DIR/index` serves it. Searches go through
`Searcher.search`, the CLI's and the web app's, and return the same `Answer` records.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from index.build.pipeline import BuildReport, build_index
from index.config import Settings
from index.search.filters import Filter, document_fields, parse_filter
from index.search.pipeline import Searcher
from index.search.records import Answer
from index.storage.store import IndexError_, load_version
from ingest.library import add_sources, remove_source
from ingest.lock import sources_lock
from ingest.metadata import load_metadata, set_tables, table_text
from ingest.readers import Skipped
from ingest.records import MetadataValueError, SourceMeta, json_metadata

DOCUMENTS = "documents"  # the subfolder of sources/ that holds documents given as text
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class DocumentError(ValueError):
    """A document that cannot be added; the message (one line) names it and the fix."""


@dataclass(frozen=True)
class Document:
    """A document given as text: `id` names it (adding the same id again updates it), `source` says where
    it comes from (a URL or a reference; citations show it), `metadata` holds any JSON-able fields
    (numbers, text, ISO dates, lists, tables) that filters read."""

    id: str
    text: str
    title: str = ""
    source: str = ""
    authors: tuple[str, ...] = ()
    publisher: str = ""
    date: str = ""
    metadata: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise DocumentError(f"a document needs an id (a non-empty string), not {self.id!r}")
        if not isinstance(self.text, str) or not self.text.strip():
            raise DocumentError(f"document {self.id!r} has no text; give it its text (files go through add_files)")
        authors = (self.authors,) if isinstance(self.authors, str) else tuple(self.authors)  # one string is one name
        object.__setattr__(self, "authors", authors)
        if hasattr(self.date, "isoformat"):
            object.__setattr__(self, "date", self.date.isoformat())
        try:
            object.__setattr__(self, "metadata", json_metadata(self.metadata))
        except MetadataValueError as exc:
            raise DocumentError(f"document {self.id!r}: {exc}") from exc

    @classmethod
    def from_dict(cls, data: Mapping) -> Document:
        """A Document from a dict with the same keys (`id` and `text` required; other keys go to metadata)."""
        known = {f.name for f in fields(cls)}
        extra = {k: v for k, v in data.items() if k not in known}
        values = {k: v for k, v in data.items() if k in known}
        if "id" not in values or "text" not in values:
            raise DocumentError(f"a document dict needs 'id' and 'text' keys, not {sorted(data)}")
        return cls(**{**values, "metadata": {**extra, **dict(values.get("metadata") or {})}})

    @property
    def file(self) -> str:
        """Where the document is kept in the sources folder (and what citations name)."""
        return document_file(self.id)

    def table(self) -> str:
        """Its sources.toml table."""
        values = {
            "title": self.title, "authors": list(self.authors), "publisher": self.publisher, "date": self.date,
            "url": self.source, "id": self.id, "metadata": self.metadata,
        }
        return table_text(self.file, {k: v for k, v in values.items() if v not in ("", [], {})})


def document_file(doc_id: str) -> str:
    """The file of a document given as text: `documents/<id>.txt`, or a hash of the id where the id is
    no safe file name (slashes, spaces, dots first; the id itself is kept in the metadata)."""
    if _SAFE_ID.fullmatch(doc_id):
        return f"{DOCUMENTS}/{doc_id}.txt"
    return f"{DOCUMENTS}/id-{hashlib.blake2b(doc_id.encode('utf-8'), digest_size=10).hexdigest()}.txt"


class Collection:
    """A folder of documents and its index, for Python code; see the module's docstring."""

    def __init__(self, path: Path | str, settings: Settings | None = None, embedder=None, **overrides: object) -> None:
        """Open the collection at `path` (`sources/` and `index/` inside it). `settings` (default: the
        environment's) and keyword `overrides` (model, rerank, k...) set everything else; `embedder` (an
        index.models.embed embedder of the same model) saves loading one."""
        self.path = Path(path)
        base = settings or Settings()
        self.settings = base.with_overrides(sources_dir=self.path / "sources", index_dir=self.path / "index", **overrides)
        self._searcher: Searcher | None = None
        self._embedder = embedder

    @classmethod
    def open(cls, path: Path | str, create: bool = True, **overrides: object) -> Collection:
        """The collection at `path`; made (empty) when missing and `create`, else FileNotFoundError."""
        path = Path(path)
        if not (path / "sources").is_dir():
            if not create:
                raise FileNotFoundError(f"no collection at {path} (no sources/ folder); open it with create=True to make one")
            (path / "sources").mkdir(parents=True, exist_ok=True)
        return cls(path, **overrides)

    # ------------------------------------------------------------ adding, updating, removing

    def add(self, documents: Iterable[Document | Mapping], build: bool = True) -> BuildReport | None:
        """Add documents given as text (Document or dict); a document whose id is already in the collection
        is updated. Then index them (unless `build` is False): only new text is embedded.

        Raises DocumentError before anything is written when a document is invalid or an id repeats.
        """
        docs = [d if isinstance(d, Document) else Document.from_dict(d) for d in documents]
        seen: dict[str, str] = {}
        for doc in docs:
            if doc.file in seen:
                raise DocumentError(f"two documents of one add have the id {doc.id!r}; give each its own id")
            seen[doc.file] = doc.id
        sources = self.settings.sources_dir
        folder = sources / DOCUMENTS
        with sources_lock(sources):
            load_metadata(sources)  # a broken sources.toml stops the add before anything is written
            folder.mkdir(parents=True, exist_ok=True)
            for doc in docs:
                _write_if_changed(sources / doc.file, doc.text.encode("utf-8"))
            set_tables(sources, {doc.file: doc.table() for doc in docs})
        return self.build() if build else None

    def update(self, document: Document | Mapping, build: bool = True) -> BuildReport | None:
        """Replace the document with the same id (its text, title, metadata...)."""
        return self.add([document], build=build)

    def add_files(self, paths: Iterable[Path | str], build: bool = True) -> tuple[list, list[Skipped]]:
        """Copy files (or folders) into the collection as `verbatim add` does, then index them.
        Returns (added, skipped) as ingest.library.add_sources does."""
        added, skipped = add_sources([Path(p) for p in paths], self.settings.sources_dir, trash_dir=self.settings.trash)
        if build:
            self.build()
        return added, skipped

    def remove(self, ids: Iterable[str] | str, build: bool = True) -> BuildReport | None:
        """Remove documents by id (to the collection's trash, with their metadata: `verbatim restore`
        brings one back); KeyError naming an id the collection does not have, before anything is removed."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        missing = [i for i in ids if not (self.settings.sources_dir / document_file(i)).is_file()]
        if missing:
            raise KeyError(f"no document with the id {missing[0]!r} in {self.path}")
        for doc_id in ids:
            remove_source(document_file(doc_id), self.settings.sources_dir, self.settings.trash)
        return self.build() if build else None

    def build(self, full: bool = False) -> BuildReport:
        """Index the sources as they are now (new text only, unless `full`) and make the version live."""
        if self._embedder is None:
            from index.models.embed import get_embedder

            self._embedder = get_embedder(self.settings.model, self.settings.embed_runtime)
        return build_index(self.settings, embedder=self._embedder, full=full)

    # ------------------------------------------------------------ reading and searching

    @property
    def searcher(self) -> Searcher:
        """The Searcher of this collection (models loaded once; a rebuild is followed)."""
        if self._searcher is None:
            self._searcher = Searcher(self.settings)
        return self._searcher

    def search(
        self,
        question: str,
        k: int | None = None,
        where: Filter | Mapping | str | Iterable[str] | None = None,
        mode: str | None = None,
        rerank: bool | None = None,
    ) -> Answer:
        """Answer `question` from the live index, quoting only documents `where` lets through (the dict form
        {"year": {"$gte": 2024}}, or `--where` clauses; FilterError on bad syntax). The Answer is the one
        the CLI and the web app show (app.present renders it as text, Markdown, JSON or HTML)."""
        return self.searcher.search(question, k=k, mode=mode, rerank=rerank, where=parse_filter(where))

    def get(self, doc_id: str) -> Document:
        """A document given as text, as indexed: its stored (cleaned) text and metadata. KeyError when the
        live index does not have it."""
        record = self._live().sources.get(document_file(doc_id))
        if record is None:
            raise KeyError(f"no indexed document with the id {doc_id!r} in {self.path}")
        return _document(doc_id, record.meta, record.text)

    def documents(self, where: Filter | Mapping | str | Iterable[str] | None = None) -> list[SourceMeta]:
        """The metadata of every indexed source (documents and files), only those `where` lets through."""
        chosen = parse_filter(where)
        metas = [record.meta for _, record in sorted(self._live().sources.items())]
        return [m for m in metas if chosen is None or chosen.matches(document_fields(m))]

    def __len__(self) -> int:
        try:
            return len(self._live().sources)
        except IndexError_:
            return 0

    def _live(self):
        return self.searcher.index() if self._searcher is not None else load_version(self.settings.index_dir)


def _document(doc_id: str, meta: SourceMeta, text: str) -> Document:
    return Document(
        id=doc_id, text=text, title=meta.title, source=meta.url, authors=meta.authors, publisher=meta.publisher,
        date=meta.date, metadata=dict(meta.metadata),
    )


def _write_if_changed(path: Path, data: bytes) -> None:
    """Write `path` whole (a temporary file renamed over it), unless it already holds `data`: an unchanged
    document keeps its file, so the build does not even read it again."""
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


__all__ = ["Collection", "Document", "DocumentError", "document_file"]
