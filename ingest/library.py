"""The sources folder as a library: add files (copied in, names made safe), remove to a trash
folder, restore from it.

Metadata lives in `sources/sources.toml`, one table per file (ingest/metadata.py). Every change to
the folder or the file happens under the sources lock, one writer at a time across processes.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ingest.clean import NO_INDEXABLE_TEXT, clean_document
from ingest.lock import sources_lock
from ingest.metadata import METADATA_FILE, add_table, load_metadata, read_table, table_text, take_table
from ingest.readers import SUPPORTED_SUFFIXES, ReadError, Skipped, list_source_files, read_document

MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Added:
    file: str
    title: str
    replaced: bool


def safe_name(name: str) -> str:
    """A plain file name that cannot leave the sources folder: no folders, no dot-files, no controls."""
    base = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name)
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^\w.\- ]+", "_", stem).strip(" ._") or "document"
    return f"{stem[:120]}{suffix}"


def _files_under(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        else:
            found.append(path)
    return found


def add_sources(paths: list[Path], sources_dir: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Added], list[Skipped]]:
    """Copy files (folders are walked) into `sources_dir`, each checked readable and non-empty first.

    A file with the name of an existing source replaces it (a changed version of the same report).
    Its metadata table is written with what the document itself says (title, authors, date), for
    people to complete. One writer at a time (the sources lock); sources.toml is replaced atomically.
    Raises MetadataError, before copying anything, when sources.toml is broken.
    """
    sources_dir.mkdir(parents=True, exist_ok=True)
    added: list[Added] = []
    skipped: list[Skipped] = []
    with sources_lock(sources_dir):
        metas = load_metadata(sources_dir)
        for path in _files_under(paths):
            name = safe_name(path.name)
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                skipped.append(Skipped(path.name, f"unsupported file type {path.suffix or '(none)'!r}"))
                continue
            if path.stat().st_size > max_bytes:
                skipped.append(Skipped(path.name, f"larger than {max_bytes // (1024 * 1024)} MB"))
                continue
            try:
                document = clean_document(read_document(path, path.parent))
            except ReadError as exc:
                skipped.append(Skipped(path.name, str(exc)))
                continue
            if not document.paragraphs:
                skipped.append(Skipped(path.name, NO_INDEXABLE_TEXT))
                continue
            target = sources_dir / name
            replaced = target.exists()
            tmp = sources_dir / f".{name}.part"
            shutil.copyfile(path, tmp)
            tmp.replace(target)
            if name not in metas:
                fields = {
                    "title": document.meta.title,
                    "authors": list(document.meta.authors),
                    "publisher": "",
                    "date": document.meta.date,
                    "url": "",
                    "added": time.strftime("%Y-%m-%d"),
                }
                add_table(sources_dir, name, table_text(name, fields))
                metas[name] = document.meta
            added.append(Added(name, document.meta.title or name, replaced))
    return added, skipped


class NotASource(ValueError):
    """A name that is in the sources folder but is not a source (sources.toml, a hidden file)."""


def managed_sources(sources_dir: Path) -> list[str]:
    """Relative paths of the files Verbatim indexes and may remove: supported types, not hidden."""
    return [p.relative_to(sources_dir).as_posix() for p in list_source_files(sources_dir)] if sources_dir.is_dir() else []


def resolve_source(name: str, sources_dir: Path) -> str:
    """The relative path of the source `name` names: its relative path ("sub/nested.txt") or, when
    only one source has it, its file name. Raises NotASource or FileNotFoundError naming the sources."""
    wanted = name.replace("\\", "/").strip().strip("/")
    if wanted.startswith("./"):
        wanted = wanted[2:]
    known = managed_sources(sources_dir)
    if wanted in known:
        return wanted
    by_name = [k for k in known if k.rsplit("/", 1)[-1] == wanted]
    if len(by_name) == 1:
        return by_name[0]
    if Path(wanted).name == METADATA_FILE:
        raise NotASource(f"{name!r} is the metadata file, not a source; edit it, or remove a source by its file name")
    if (sources_dir / wanted).exists():
        raise NotASource(f"{name!r} is not a source Verbatim manages (sources are {', '.join(SUPPORTED_SUFFIXES)} files, not hidden)")
    if len(by_name) > 1:
        raise FileNotFoundError(f"several sources are named {name!r}: {', '.join(by_name)}; give the path")
    raise FileNotFoundError(f"no source named {name!r} in {sources_dir} (sources: {', '.join(known) or 'none'})")


@dataclass(frozen=True)
class Trashed:
    """A removed source kept in the trash: its path in the sources folder, when it went, where it is."""

    file: str
    removed: str
    entry: Path

    @property
    def path(self) -> Path:
        return self.entry / Path(self.file).name


ENTRY_FILE = "entry.json"


def remove_source(name: str, sources_dir: Path, trash_dir: Path) -> Trashed:
    """Move a source and its metadata table to the trash (`restore_source` brings both back).

    Only managed source files can be removed (not sources.toml); nested ones by their relative path.
    """
    with sources_lock(sources_dir):
        file = resolve_source(name, sources_dir)
        removed = time.strftime("%Y-%m-%dT%H:%M:%S")
        entry = trash_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        entry.mkdir(parents=True)
        table = read_table(sources_dir, file)
        # The record first, then the file, then the table: a crash in between loses nothing (a
        # table without its file is ignored; an entry without its file is not listed).
        (entry / ENTRY_FILE).write_text(json.dumps({"file": file, "removed": removed, "table": table}, ensure_ascii=False), encoding="utf-8")
        shutil.move(str(sources_dir / file), str(entry / Path(file).name))
        take_table(sources_dir, file)
        parent = (sources_dir / file).parent
        while parent != sources_dir and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()  # a subfolder emptied by the removal goes too
            parent = parent.parent
    return Trashed(file, removed, entry)


def list_trash(trash_dir: Path) -> list[Trashed]:
    """Removed sources that can be restored, most recently removed first."""
    items = []
    for entry in sorted(trash_dir.glob("*/" + ENTRY_FILE), reverse=True) if trash_dir.is_dir() else []:
        try:
            record = json.loads(entry.read_text(encoding="utf-8"))
            item = Trashed(str(record["file"]), str(record["removed"]), entry.parent)
        except (OSError, ValueError, KeyError):
            continue
        if item.path.is_file():
            items.append(item)
    return items


def restore_source(name: str, sources_dir: Path, trash_dir: Path) -> Trashed:
    """Bring the most recently removed source called `name` back, with its metadata table."""
    with sources_lock(sources_dir):
        trashed = list_trash(trash_dir)
        wanted = name.replace("\\", "/").strip().strip("/")
        matches = [t for t in trashed if t.file == wanted] or [t for t in trashed if Path(t.file).name == wanted]
        if not matches:
            known = ", ".join(dict.fromkeys(t.file for t in trashed)) or "the trash is empty"
            raise FileNotFoundError(f"no removed source named {name!r} ({known})")
        if len({t.file for t in matches}) > 1:
            raise FileNotFoundError(f"several removed sources are named {name!r}: {', '.join(t.file for t in matches)}; give the path")
        item = matches[0]
        target = sources_dir / item.file
        if target.exists():
            raise FileExistsError(f"a source {item.file!r} exists again; remove or rename it before restoring the old one")
        record = json.loads((item.entry / ENTRY_FILE).read_text(encoding="utf-8"))
        if record.get("table"):
            add_table(sources_dir, item.file, record["table"] if record["table"].startswith("\n") else "\n" + record["table"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(item.path), str(target))
        shutil.rmtree(item.entry, ignore_errors=True)
    return item
