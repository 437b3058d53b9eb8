"""Read source files from disk into RawDocuments, with their sidecar metadata."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from ingest.formats import EXTRACTORS, FormatError
from ingest.metadata import METADATA_FILE, MetadataError, load_metadata, stated_date  # noqa: F401 (read_sources reads it; callers import it from here)
from ingest.records import RawDocument, SourceMeta

SUPPORTED_SUFFIXES = tuple(EXTRACTORS)


class ReadError(Exception):
    """A source file that cannot be indexed; the message says why."""


@dataclass(frozen=True)
class Skipped:
    """A file left out of the index and the reason, reported to the user."""

    file: str
    reason: str


def fingerprint_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _link_reason(link: Path, root: Path, is_dir: bool) -> str:
    """Why a symbolic link in the sources folder is not indexed itself (links are never followed).

    `root` is the sources folder resolved. A link that leads outside it is refused: a link is not a
    way to index (and serve) a file nobody copied in. One that stays inside names what it points to,
    which is indexed once, under its own path, when it is a source.
    """
    kind = "folder" if is_dir else "file"
    target = Path(os.path.realpath(link))
    if not _inside(target, root):
        return f"a symbolic link to a {kind} outside the sources folder: refused (copy the {kind} in with `verbatim add`)"
    inner = target.relative_to(root).as_posix() or "."
    if is_dir:
        return f"a symbolic link to the folder {inner} of the sources folder: not followed (its files are indexed under their own paths)"
    if target.is_file() and target.suffix.lower() in SUPPORTED_SUFFIXES and not any(
        part.startswith(".") for part in target.relative_to(root).parts
    ):
        return f"a symbolic link to {inner}, which is indexed once, under its own name"
    return f"a symbolic link to {inner}, which is not a source: not followed"


def scan_sources(sources_dir: Path) -> tuple[list[Path], list[Skipped]]:
    """Every indexable file under `sources_dir` in a stable order, and what was left out with why.

    Hidden files and folders (the trash among them) are skipped. Symbolic links are never followed,
    to files or folders: each one is reported with what it points to (_link_reason), and so is a
    folder that cannot be read.
    """
    root = Path(os.path.realpath(sources_dir))
    files: list[Path] = []
    left_out: list[Skipped] = []

    def unreadable(error: OSError) -> None:
        where = Path(os.path.relpath(error.filename, sources_dir)).as_posix() + "/"
        left_out.append(Skipped(where, f"cannot read the folder: {error.strerror or error}"))

    for folder, dirs, names in os.walk(sources_dir, onerror=unreadable):  # a linked folder is not entered
        here = Path(folder)
        rel = Path(os.path.relpath(folder, sources_dir))
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for d in dirs:
            if (here / d).is_symlink():
                left_out.append(Skipped((rel / d).as_posix() + "/", _link_reason(here / d, root, True)))
        for name in names:
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            if path.is_symlink():
                left_out.append(Skipped((rel / name).as_posix(), _link_reason(path, root, False)))
            elif path.is_file():
                files.append(path)
    order = lambda item: item.relative_to(sources_dir).as_posix()  # noqa: E731
    return sorted(files, key=order), sorted(left_out, key=lambda s: s.file)


def list_source_files(sources_dir: Path) -> list[Path]:
    """Every indexable file under `sources_dir`, in a stable order (hidden files and symbolic links skipped)."""
    return scan_sources(sources_dir)[0]


def read_regular_file(path: Path) -> bytes:
    """The bytes of `path`, refusing a symbolic link (a file swapped for a link after the folder was
    listed is not followed either). Raises OSError; ELOOP for a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        return fh.read()


def source_path(sources_dir: Path, file: str) -> Path | None:
    """The path of the source `file` (relative) when it is a regular file inside `sources_dir` reached
    without any symbolic link, else None: what may be read from disk to serve it (a PDF's page image)."""
    parts = Path(file).parts
    if not parts or Path(file).is_absolute() or any(part in ("", ".", "..") for part in parts):
        return None
    path = sources_dir
    for part in parts:
        path = path / part
        if path.is_symlink():
            return None
    return path if path.is_file() else None


def merge_meta(sidecar: SourceMeta | None, own: SourceMeta) -> SourceMeta:
    """Citation metadata: the sidecar (edited by people) wins over what the file says of itself."""
    if sidecar is None:
        return own
    return SourceMeta(
        file=own.file,
        title=sidecar.title or own.title,
        authors=sidecar.authors or own.authors,
        publisher=sidecar.publisher or own.publisher,
        date=sidecar.date or own.date,
        url=sidecar.url or own.url,
        added=sidecar.added or own.added,
        page_labels=own.page_labels,  # the file's own structure; sources.toml does not name pages
        id=sidecar.id or own.id,
        metadata={**own.metadata, **sidecar.metadata},
    )


def read_document(path: Path, sources_dir: Path, data: bytes | None = None) -> RawDocument:
    """Read one file (its bytes, if already read, in `data`). Raises ReadError when it cannot be used.

    The metadata is what the file itself says (title, authors, date); see merge_meta for the sidecar.
    """
    name = path.relative_to(sources_dir).as_posix()
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ReadError(f"unsupported file type {path.suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    if data is None:
        try:
            data = read_regular_file(path)
        except OSError as exc:
            raise ReadError(f"cannot read: {exc.strerror or exc}") from exc
    if not data.strip():
        raise ReadError("empty file")
    try:
        extracted = EXTRACTORS[path.suffix.lower()](data)
    except FormatError as exc:
        raise ReadError(str(exc)) from exc
    if not extracted.text.strip():
        raise ReadError("no text in the file")
    # A date the file's metadata lacks may be stated in its text ("Published: 3 March 2024").
    date = extracted.date or stated_date(extracted.text)
    meta = SourceMeta(file=name, title=extracted.title, authors=extracted.authors, date=date, page_labels=extracted.page_labels)
    return RawDocument(file=name, text=extracted.text, fingerprint=fingerprint_bytes(data), meta=meta)


def read_sources(sources_dir: Path) -> tuple[list[RawDocument], list[Skipped]]:
    """Read every source with its sidecar metadata; unreadable files are skipped and reported."""
    metas = load_metadata(sources_dir)
    documents: list[RawDocument] = []
    skipped: list[Skipped] = []
    for path in list_source_files(sources_dir):
        name = path.relative_to(sources_dir).as_posix()
        try:
            raw = read_document(path, sources_dir)
        except ReadError as exc:
            skipped.append(Skipped(name, str(exc)))
            continue
        documents.append(replace(raw, meta=merge_meta(metas.get(name), raw.meta)))
    return documents, skipped
