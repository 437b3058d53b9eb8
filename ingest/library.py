"""The sources folder as a library: add files (copied in, names made safe), remove to a trash
folder, restore from it.

Metadata lives in `sources/sources.toml`, one table per file (ingest/metadata.py). Every change to
the folder or the file happens under the sources lock, one writer at a time across processes.

A trash belongs to one collection: by default it is the sources folder's own (`sources/.trash`,
hidden, so never a source). Each removal is one entry, with an id, and every entry can be restored
until the trash's limits let it go (ingest/trash.py: the last few replaced versions of a file, an age,
a size). Replacing a source by adding a file of the same name is a removal (to the trash) and an add.

A subfolder that `verbatim sync` keeps in step with a folder elsewhere is the sync's (it holds the
marker file MIRROR_MARKER): `add` puts nothing there, since the next sync would trash it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ingest.clean import NO_INDEXABLE_TEXT, clean_document
from ingest.lock import sources_lock
from ingest.metadata import METADATA_FILE, TRASH_FOLDER, add_table, load_metadata, read_table, table_text, take_table
from ingest.readers import SUPPORTED_SUFFIXES, ReadError, Skipped, fingerprint_bytes, list_source_files, read_document
from ingest.records import CleanDocument
from ingest.trash import ENTRY_FILE, TrashLimits, default_limits, owner_of, prune_trash

MAX_FILE_BYTES = 50 * 1024 * 1024
METADATA_CHOICES = ("new", "keep")  # what a replaced source's metadata table becomes; "new" is the default
MIRROR_MARKER = ".verbatim-sync.json"  # in a subfolder `verbatim sync` mirrors a folder into: {"folder": its path}


class UnknownSource(FileNotFoundError):
    """A name that no source (or no removal in the trash) has: a refused request, the message lists the known ones."""


class SourceExists(FileExistsError):
    """A restore that would overwrite a source that exists again: refused."""


@dataclass(frozen=True)
class Trashed:
    """A removed source kept in the trash: its path in the sources folder, when it went, where it is.

    `legacy`: an entry of the old shared trash, which does not record the collection it came from.
    `reason`: why it went ("removed", or "replaced" by a file of the same name).
    """

    file: str
    removed: str
    entry: Path
    legacy: bool = False
    reason: str = "removed"

    @property
    def path(self) -> Path:
        return self.entry / Path(self.file).name

    @property
    def id(self) -> str:
        """What `verbatim restore ID` takes to bring back exactly this removal."""
        return self.entry.name


@dataclass(frozen=True)
class Added:
    """A file copied into the sources folder. `replaced`: a source of that name was there and went to
    the trash (`trashed`); `metadata`: whether its table is the document's ("new") or the old one
    ("kept"); `unchanged`: the same bytes were already there, so nothing was done."""

    file: str
    title: str
    replaced: bool
    metadata: str = "new"
    trashed: Trashed | None = None
    unchanged: bool = False


def _safe_part(name: str, fallback: str) -> str:
    return re.sub(r"[^\w.\- ]+", "_", unicodedata.normalize("NFC", name)).strip(" ._")[:120] or fallback


def safe_name(name: str) -> str:
    """A plain file name that cannot leave the sources folder: no folders, no dot-files, no controls."""
    base = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name)
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    return f"{_safe_part(stem, 'document')}{suffix}"


def safe_path(relative: PurePosixPath) -> str:
    """A relative path inside the sources folder: each folder made safe like a name ("..", "." and
    dot-folders cannot survive it), the file name by safe_name."""
    folders = [_safe_part(part, "folder") for part in relative.parts[:-1]]
    return "/".join([*folders, safe_name(relative.name)])


def default_trash(sources_dir: Path) -> Path:
    """A sources folder's own trash."""
    return sources_dir / TRASH_FOLDER


def mirrored_folder(sources_dir: Path, first_part: str) -> str | None:
    """The folder elsewhere that `verbatim sync` mirrors into sources/FIRST_PART/, or None when that
    subfolder is not a sync's (no marker, or a marker that cannot be read)."""
    marker = sources_dir / first_part / MIRROR_MARKER
    try:
        return str(json.loads(marker.read_text(encoding="utf-8"))["folder"]) if not marker.is_symlink() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def prune(sources_dir: Path, trash_dir: Path, limits: TrashLimits | None) -> list[str]:
    """Apply the trash's limits to this collection's entries (the caller holds the sources lock)."""
    return prune_trash(trash_dir, owner_of(sources_dir, trash_dir), limits or default_limits())


@dataclass(frozen=True)
class Incoming:
    """A file to add: where it is and the relative path it gets in the sources folder ("" to skip it)."""

    path: Path
    target: str
    skip: str = ""


def _incoming(paths: list[Path]) -> list[Incoming]:
    """The files to add. A folder's files keep their place below it (`folder/a/x.txt` -> `a/x.txt`),
    so two files of one name in different subfolders stay two sources. Hidden folders, hidden files of
    a supported type and symbolic links met while walking a folder are not added, and are reported
    (a link named on the command line is read through: it was asked for)."""
    found: list[Incoming] = []
    for path in paths:
        if not path.is_dir():
            found.append(Incoming(path, safe_name(path.name)))
            continue
        for folder, dirs, names in os.walk(path):
            here = Path(folder)
            found.extend(Incoming(here / d, "", "a hidden folder: not added") for d in sorted(dirs) if d.startswith("."))
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for d in dirs:
                if (here / d).is_symlink():
                    found.append(Incoming(here / d, "", "a symbolic link to a folder: not followed; add the folder it points to itself"))
            for name in sorted(names):
                file = here / name
                if name.startswith("."):
                    if file.suffix.lower() in SUPPORTED_SUFFIXES:
                        found.append(Incoming(file, "", "a hidden file: not added (rename it to add it)"))
                    continue
                relative = PurePosixPath(file.relative_to(path).as_posix())
                if file.is_symlink():
                    found.append(Incoming(file, "", "a symbolic link: not followed; add the file it points to itself"))
                elif file.is_file():
                    found.append(Incoming(file, safe_path(relative)))
    return found


def _link_on_the_way(sources_dir: Path, target: str) -> bool:
    """True when a folder between the sources folder and `target` is a symbolic link: writing there
    would put the file somewhere else."""
    path = sources_dir
    for part in PurePosixPath(target).parts[:-1]:
        path = path / part
        if path.is_symlink():
            return True
    return False


def _new_table(name: str, document: CleanDocument) -> str:
    fields = {
        "title": document.meta.title,
        "authors": list(document.meta.authors),
        "publisher": "",
        "date": document.meta.date,
        "url": "",
        "added": time.strftime("%Y-%m-%d"),
    }
    return table_text(name, fields)


def add_sources(
    paths: list[Path],
    sources_dir: Path,
    max_bytes: int = MAX_FILE_BYTES,
    trash_dir: Path | None = None,
    metadata: str = "new",
    limits: TrashLimits | None = None,
    on_file: Callable[[int, int, Path], None] | None = None,
) -> tuple[list[Added], list[Skipped]]:
    """Copy files (folders are walked, their subfolders kept) into `sources_dir`, each checked
    readable and non-empty first.

    A file with the path of an existing source replaces it: the old file and its metadata table go to
    the trash (`trash_dir`, default the folder's own), restorable like any removal; the table then is
    the new document's (`metadata="new"`, the default) or the old one carried over (`"keep"`). The same
    bytes again change nothing. Two files of one add that would get the same path: the second is
    skipped, naming the first. One writer at a time (the sources lock); sources.toml is replaced
    atomically. Raises MetadataError, before copying anything, when sources.toml is broken. A file whose
    path falls in a subfolder `verbatim sync` mirrors is skipped (the next sync would trash it). The
    trash's `limits` (default: the Settings' ones) are applied after the add. `on_file(n, total, path)`
    hears of each file as its reading starts (the n-th of `total` files to read), for progress.
    """
    if metadata not in METADATA_CHOICES:
        raise ValueError(f"metadata must be one of {', '.join(METADATA_CHOICES)}, not {metadata!r}")
    trash_dir = trash_dir or default_trash(sources_dir)
    sources_dir.mkdir(parents=True, exist_ok=True)
    added: list[Added] = []
    skipped: list[Skipped] = []
    with sources_lock(sources_dir):
        load_metadata(sources_dir)  # a broken file stops the add before anything is copied
        claimed: dict[str, Path] = {}  # target -> the file of this add that took it
        incoming = _incoming(paths)
        to_read = sum(not item.skip for item in incoming)
        number = 0
        for item in incoming:
            if on_file is not None and not item.skip:
                number += 1
                on_file(number, to_read, item.path)
            origin = mirrored_folder(sources_dir, item.target.split("/")[0]) if "/" in item.target else None
            if origin is not None:
                first = item.target.split("/")[0]
                result: Added | Skipped = Skipped(
                    str(item.path), f"would be {item.target}, inside sources/{first}/, which `verbatim sync` keeps in step with "
                    f"{origin}: put the file in that folder instead (or add it under another folder name)",
                )
            else:
                result = _add_one(item, sources_dir, trash_dir, metadata, max_bytes, claimed)
            (added if isinstance(result, Added) else skipped).append(result)
        if any(item.trashed for item in added):
            prune(sources_dir, trash_dir, limits)
    return added, skipped


def _add_one(
    item: Incoming, sources_dir: Path, trash_dir: Path, metadata: str, max_bytes: int, claimed: dict[str, Path]
) -> Added | Skipped:
    """Add one file (the caller holds the sources lock)."""
    path, name = item.path, item.target
    if item.skip:
        return Skipped(str(path), item.skip)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return Skipped(path.name, f"unsupported file type {path.suffix or '(none)'!r}")
    if name in claimed:
        return Skipped(str(path), f"would be {name} in the sources folder, as {claimed[name]} of this add is: not added (rename one of them)")
    if path.stat().st_size > max_bytes:
        return Skipped(path.name, f"larger than {max_bytes // (1024 * 1024)} MB")
    if _link_on_the_way(sources_dir, name):
        return Skipped(str(path), f"a folder on the way to {name} in the sources folder is a symbolic link: not written through it")
    try:
        data = path.read_bytes()
        document = clean_document(read_document(path, path.parent, data))
    except ReadError as exc:
        return Skipped(path.name, str(exc))
    except OSError as exc:
        return Skipped(str(path), f"cannot read: {exc.strerror or exc}")
    if not document.paragraphs:
        return Skipped(path.name, NO_INDEXABLE_TEXT)
    claimed[name] = path
    target = sources_dir / name
    if target.is_dir() and not target.is_symlink():
        return Skipped(str(path), f"{name} is a folder in the sources folder: not replaced by a file")
    if target.is_file() and not target.is_symlink() and fingerprint_bytes(target.read_bytes()) == fingerprint_bytes(data):
        return Added(name, document.meta.title or name, replaced=False, metadata="", unchanged=True)
    trashed = None
    old_table = ""
    if target.exists() or target.is_symlink():
        old_table = read_table(sources_dir, name)
        trashed = _to_trash(name, sources_dir, trash_dir, reason="replaced")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_bytes(data)
    tmp.replace(target)
    kept = metadata == "keep" and bool(old_table)
    # The kept table without the blank lines that followed it: a file replaced 100 times (a watched save)
    # must not leave 100 blank lines behind.
    add_table(sources_dir, name, "\n" + old_table.strip("\n") + "\n" if kept else _new_table(name, document))
    return Added(name, document.meta.title or name, trashed is not None, "kept" if kept else "new", trashed)


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
    if (sources_dir / wanted).exists() or (sources_dir / wanted).is_symlink():
        raise NotASource(f"{name!r} is not a source Verbatim manages (sources are {', '.join(SUPPORTED_SUFFIXES)} files, not hidden, not symbolic links)")
    if len(by_name) > 1:
        raise UnknownSource(f"several sources are named {name!r}: {', '.join(by_name)}; give the path")
    raise UnknownSource(f"no source named {name!r} in {sources_dir} (sources: {', '.join(known) or 'none'})")


def _owner(sources_dir: Path) -> str:
    return os.path.realpath(sources_dir)


def _to_trash(file: str, sources_dir: Path, trash_dir: Path, reason: str = "removed") -> Trashed:
    """Move a source and its metadata table into a new trash entry (the caller holds the sources lock)."""
    removed = time.strftime("%Y-%m-%dT%H:%M:%S")
    entry = trash_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    entry.mkdir(parents=True)
    table = read_table(sources_dir, file)
    record = {
        "file": file,
        "removed": removed,
        "removed_ns": time.time_ns(),  # orders removals made within one second
        "reason": reason,
        "sources": _owner(sources_dir),  # the collection it belongs to, should a trash be shared
        "table": table,
    }
    # The record first, then the file, then the table: a crash in between loses nothing (a
    # table without its file is ignored; an entry without its file is not listed).
    (entry / ENTRY_FILE).write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    shutil.move(str(sources_dir / file), str(entry / Path(file).name))
    take_table(sources_dir, file)
    return Trashed(file, removed, entry, reason=reason)


def remove_source(name: str, sources_dir: Path, trash_dir: Path | None = None, limits: TrashLimits | None = None) -> Trashed:
    """Move a source and its metadata table to the trash (`restore_source` brings both back), then apply
    the trash's `limits`.

    Only managed source files can be removed (not sources.toml); nested ones by their relative path.
    """
    trash_dir = trash_dir or default_trash(sources_dir)
    with sources_lock(sources_dir):
        file = resolve_source(name, sources_dir)
        trashed = _to_trash(file, sources_dir, trash_dir)
        parent = (sources_dir / file).parent
        while parent != sources_dir and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()  # a subfolder emptied by the removal goes too
            parent = parent.parent
        prune(sources_dir, trash_dir, limits)
    return trashed


def _read_entry(record_path: Path, sources_dir: Path | None, own_trash: bool) -> tuple[Trashed, int] | None:
    """One trash entry and its sort key, or None when it is unreadable, has lost its file, or belongs
    to another collection (a trash shared through --trash-dir)."""
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        owner = record.get("sources")
        item = Trashed(
            str(record["file"]), str(record["removed"]), record_path.parent,
            legacy=owner is None and not own_trash, reason=str(record.get("reason", "removed")),
        )
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    if owner is not None and sources_dir is not None and not own_trash and owner != _owner(sources_dir):
        return None
    if not item.path.is_file() and not item.path.is_symlink():
        return None
    return item, int(record.get("removed_ns") or 0)


def list_trash(trash_dir: Path, sources_dir: Path | None = None, old_trash: Path | None = None) -> list[Trashed]:
    """Removed sources that can be restored into `sources_dir`, most recently removed first.

    In the folder's own trash every entry is its own. In any other trash (--trash-dir, the old shared
    one) entries recorded for another sources folder are not listed; entries that record none (made
    before trashes were per collection) are listed as `legacy`, restorable by their id only.
    """
    own = sources_dir is None or trash_dir == default_trash(sources_dir)
    found: list[tuple[Trashed, int]] = []
    folders = [(trash_dir, own)] + ([(old_trash, False)] if old_trash is not None and old_trash != trash_dir else [])
    for folder, own_trash in folders:
        if not folder.is_dir():
            continue
        for record_path in folder.glob("*/" + ENTRY_FILE):
            entry = _read_entry(record_path, sources_dir, own_trash)
            if entry is not None:
                found.append(entry)
    found.sort(key=lambda pair: (pair[1], pair[0].entry.name), reverse=True)
    return [item for item, _ in found]


def _pick(name: str, trashed: list[Trashed]) -> Trashed:
    """The entry `name` means: its id, else the latest removal of that path (or unique file name)."""
    wanted = name.replace("\\", "/").strip().strip("/")
    by_id = [t for t in trashed if t.id == wanted]
    if by_id:
        return by_id[0]
    reachable = [t for t in trashed if not t.legacy]
    matches = [t for t in reachable if t.file == wanted] or [t for t in reachable if Path(t.file).name == wanted]
    if not matches:
        known = ", ".join(dict.fromkeys(t.file for t in reachable)) or "the trash is empty"
        legacy = " (the old shared trash: restore its entries by id, see `verbatim restore --list`)" if any(t.legacy for t in trashed) else ""
        raise UnknownSource(f"no removed source named {name!r} ({known}){legacy}")
    if len({t.file for t in matches}) > 1:
        raise UnknownSource(f"several removed sources are named {name!r}: {', '.join(dict.fromkeys(t.file for t in matches))}; give the path")
    return matches[0]


def restore_source(name: str, sources_dir: Path, trash_dir: Path | None = None, old_trash: Path | None = None) -> Trashed:
    """Bring a removed source back, with its metadata table: the entry whose id is `name` (any listed
    one), or the most recent removal of the source `name`."""
    trash_dir = trash_dir or default_trash(sources_dir)
    with sources_lock(sources_dir):
        item = _pick(name, list_trash(trash_dir, sources_dir, old_trash))
        target = sources_dir / item.file
        if target.exists() or target.is_symlink():
            raise SourceExists(
                f"a source {item.file!r} exists again; remove it first (it goes to the trash too), then restore {item.id}"
            )
        if _link_on_the_way(sources_dir, item.file):
            raise SourceExists(f"a folder on the way to {item.file!r} is a symbolic link; remove the link before restoring")
        record = json.loads((item.entry / ENTRY_FILE).read_text(encoding="utf-8"))
        if record.get("table"):
            add_table(sources_dir, item.file, record["table"] if record["table"].startswith("\n") else "\n" + record["table"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(item.path), str(target))
        shutil.rmtree(item.entry, ignore_errors=True)
    return item
