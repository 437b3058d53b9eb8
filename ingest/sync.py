"""Keep a copy of a folder that lives elsewhere in the sources folder (`verbatim sync FOLDER [--watch]`).

The folder's files are mirrored below one subfolder of the sources folder (its name, made safe and
unique), so they never mix with sources added by hand and a file gone from the folder is known to be
the sync's to remove. One sync pass, under the sources lock (so two syncs, or a sync and a web upload,
take turns and lose nothing):

- a new or changed file is copied in through the library's add (checked readable first; a changed
  file's old version goes to the trash, as an add's does);
- a file gone from the folder is moved to the trash, restorable with `verbatim restore`;
- a renamed file (same bytes under a new path, a renamed subfolder's files too) is moved, with its
  metadata table: nothing goes to the trash, since nothing is lost, and the build that follows reuses
  its vectors (passages are keyed by their text) and its OCR (cached by content).

The mirror subfolder holds a marker (library.MIRROR_MARKER) naming the folder: a subfolder made by
hand (`verbatim add proj/` makes `notes/`) is never taken over, and `add` puts nothing in a mirror.
After a pass the trash's limits apply (ingest/trash.py), so a watched file saved a hundred times
leaves its last few versions, not a hundred.

What each synced folder is and when it was last synced is kept in sync.json in the index folder, for
`verbatim sources` and the web app's Sources tab. The record of each file (size, mtime, sha256) lets a
pass skip files that have not changed without reading them. A watch is reported only while its
process lives: it holds a lock for its lifetime (ingest/lock.held_for_life), so the "watching" of a
killed watch is not believed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

# The library's own steps, taken under one hold of the sources lock for the whole pass (its public
# add and remove each take the lock, which is not re-entrant).
from ingest.library import (
    MAX_FILE_BYTES,
    MIRROR_MARKER,
    Incoming,
    _add_one,
    _safe_part,
    _to_trash,
    default_trash,
    managed_sources,
    mirrored_folder,
    prune,
    safe_path,
)
from ingest.lock import HeldElsewhere, held_for_life, is_held, sources_lock
from ingest.metadata import add_table, load_metadata, read_table, table_text, take_table
from ingest.readers import SUPPORTED_SUFFIXES, Skipped, fingerprint_bytes
from ingest.trash import TrashLimits

SYNC_STATE = "sync.json"


class SyncError(ValueError):
    """A folder that cannot be synced (missing, overlapping the sources folder, already watched); the message says why."""


@dataclass
class SyncReport:
    """What one pass changed in the sources folder (relative paths there)."""

    folder: str
    mirror: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    note: str = ""  # said once, on the first pass: why the mirror is not named after the folder

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.renamed)

    def rename_lines(self) -> list[str]:
        """The renames, a renamed folder as one line ("renamed m/a/ -> m/b/ (12 files)"), single files as theirs."""
        by_folder: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for old, new in self.renamed:
            old_dir, _, old_name = old.rpartition("/")
            new_dir, _, new_name = new.rpartition("/")
            key = (old_dir, new_dir) if old_name == new_name and old_dir != new_dir else (old, new)
            by_folder.setdefault(key, []).append((old, new))
        lines = []
        for (old, new), pairs in by_folder.items():
            if len(pairs) > 1:
                lines.append(f"renamed {old}/ -> {new}/ ({len(pairs)} files)")
            else:
                lines.extend(f"renamed {a} -> {b}" for a, b in pairs)
        return lines

    def summary(self) -> str:
        return (
            f"synced {self.folder} -> sources/{self.mirror}: {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.renamed)} renamed, {len(self.removed)} removed, {self.unchanged} unchanged, {len(self.skipped)} skipped"
        )


# ---------------------------------------------------------------- the state file


def state_path(index_dir: Path) -> Path:
    return Path(index_dir) / SYNC_STATE


def read_state(index_dir: Path) -> dict:
    """{"folders": {realpath: {"mirror", "last_sync", "files", "summary", "watching", "records"}}}; empty when none."""
    try:
        state = json.loads(state_path(index_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"folders": {}}
    return state if isinstance(state.get("folders"), dict) else {"folders": {}}


def _write_state(index_dir: Path, state: dict) -> None:
    path = state_path(index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)


WATCHING, WAITING = "watching", "waiting"  # a watch follows the folder, or waits for it to come back


@dataclass(frozen=True)
class SyncedFolder:
    """A line of the Sources tab: a synced folder, where it is mirrored, its last pass, and its watch:
    "" (none alive), WATCHING, or WAITING (the folder is gone; the watch follows it when it is back)."""

    folder: str
    mirror: str
    last_sync: str
    files: int
    summary: str
    watch: str

    @property
    def watching(self) -> bool:
        return bool(self.watch)


def watch_lock_path(index_dir: Path, folder: str) -> Path:
    """The lock a watch of `folder` holds while it lives (one per folder)."""
    return Path(index_dir) / "sync-watch" / f"{hashlib.sha256(folder.encode()).hexdigest()[:16]}.lock"


def synced_folders(index_dir: Path) -> list[SyncedFolder]:
    """Every folder synced into this index's sources, from sync.json; a watch only while its process lives."""
    items = []
    for folder, entry in sorted(read_state(index_dir)["folders"].items()):
        recorded = entry.get("watch") or (WATCHING if entry.get("watching") else "")
        alive = bool(recorded) and is_held(watch_lock_path(index_dir, folder))
        items.append(SyncedFolder(
            folder, str(entry.get("mirror", "")), str(entry.get("last_sync", "")), int(entry.get("files", 0)),
            str(entry.get("summary", "")), str(recorded) if alive else "",
        ))
    return items


def synced_lines(index_dir: Path) -> list[str]:
    """One line per synced folder, for the Sources tab: where it is mirrored, its last pass, if watched."""
    lines = []
    for item in synced_folders(index_dir):
        watching = {
            WATCHING: "; followed by `verbatim sync --watch`",
            WAITING: "; the folder is gone: `verbatim sync --watch` follows it again when it is back (its copies stay until then)",
        }.get(item.watch, "")
        lines.append(
            f"Synced folder {item.folder} -> sources/{item.mirror}: last sync {item.last_sync or 'never'}, "
            f"{item.files} files{watching}"
        )
    return lines


def set_watch(index_dir: Path, sources_dir: Path, folder: Path, watch: str) -> None:
    """Record the state of `verbatim sync --watch` of `folder`: WATCHING, WAITING, or "" (stopped)."""
    with sources_lock(sources_dir):
        state = read_state(index_dir)
        entry = state["folders"].get(os.path.realpath(folder))
        if entry is not None:
            entry["watch"] = watch
            entry["watching"] = bool(watch)  # what older readers of sync.json look at
            _write_state(index_dir, state)


@contextmanager
def watch_held(index_dir: Path, folder: Path) -> Iterator[None]:
    """Be the one living watch of `folder` (SyncError when another process already follows it)."""
    real = os.path.realpath(folder)
    try:
        with held_for_life(watch_lock_path(index_dir, real)):
            yield
    except HeldElsewhere:
        raise SyncError(f"{real} is already followed by another `verbatim sync --watch`: stop it first") from None


def synced_origin(sources_dir: Path, file: str) -> str | None:
    """The path of the file elsewhere that the source `file` is a copy of, when a sync keeps it; else None."""
    first, _, rest = file.partition("/")
    folder = mirrored_folder(sources_dir, first) if rest else None
    return str(Path(folder) / rest) if folder else None


# ---------------------------------------------------------------- one pass


def _check_folder(folder: Path, sources_dir: Path) -> Path:
    if not folder.is_dir():
        raise SyncError(f"{folder} is not a folder")
    real, sources = Path(os.path.realpath(folder)), Path(os.path.realpath(sources_dir))
    if real == sources or sources in real.parents or real in sources.parents:
        raise SyncError(f"{folder} overlaps the sources folder {sources_dir}: sync a folder that lives elsewhere")
    return real


def _mirror_name(real: Path, state: dict, sources_dir: Path) -> str:
    """The folder's subfolder in the sources folder: kept from earlier passes, else its name made
    safe, numbered when another synced folder has it or when something of that name is already in
    the sources folder (a folder added by hand is never taken over: its files are not the sync's)."""
    entry = state["folders"].get(str(real))
    if entry and entry.get("mirror"):
        return str(entry["mirror"])
    taken = {str(e.get("mirror")) for e in state["folders"].values()}

    def free(name: str) -> bool:
        path = sources_dir / name
        mine = mirrored_folder(sources_dir, name) == str(real)  # this folder's mirror, its record lost
        return name not in taken and (mine or not (path.exists() or path.is_symlink()))

    base = _safe_part(real.name, "synced")
    name, n = base, 2
    while not free(name):
        name, n = f"{base}-{n}", n + 1
    return name


def _mark_mirror(sources_dir: Path, mirror: str, real: Path) -> None:
    """Write the marker that makes sources/<mirror>/ the sync's (hidden: never a source)."""
    marker = sources_dir / mirror / MIRROR_MARKER
    if mirrored_folder(sources_dir, mirror) != str(real):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"folder": str(real)}, ensure_ascii=False), encoding="utf-8")


def _move_source(old: str, new: str, sources_dir: Path) -> None:
    """A source renamed in the synced folder: its copy and its metadata table move to the new path (the
    caller holds the sources lock). The table first: a crash between leaves the file where it was,
    which the next pass sees as a rename again."""
    table = take_table(sources_dir, old)
    if table and not read_table(sources_dir, new):
        _header, _, fields = table.lstrip("\n").partition("\n")
        add_table(sources_dir, new, table_text(new, {}) + fields.strip("\n") + "\n")
    target = sources_dir / new
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(sources_dir / old, target)
    _remove_empty_parents(sources_dir / old, sources_dir)


def _listing(real: Path, mirror: str) -> tuple[dict[str, Incoming], list[Skipped]]:
    """The folder's files by their path in the sources folder. Hidden files, symbolic links and types
    Verbatim does not read are left out (links reported, as `add` does)."""
    found: dict[str, Incoming] = {}
    skipped: list[Skipped] = []
    for here, dirs, names in os.walk(real):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(here) / name
            if name.startswith(".") or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            if path.is_symlink():
                skipped.append(Skipped(str(path), "a symbolic link: not followed"))
                continue
            relative = PurePosixPath(path.relative_to(real).as_posix())
            target = f"{mirror}/{safe_path(relative)}"
            found[target] = Incoming(path, target)
    return found, skipped


def _stat_key(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def sync_folder(
    folder: Path, sources_dir: Path, index_dir: Path, trash_dir: Path | None = None, limits: TrashLimits | None = None
) -> SyncReport:
    """One pass: make sources/<mirror>/ hold exactly the folder's readable files, then apply the
    trash's `limits` (default: the Settings' ones). Holds the sources lock."""
    trash_dir = trash_dir or default_trash(sources_dir)
    sources_dir.mkdir(parents=True, exist_ok=True)
    real = _check_folder(folder, sources_dir)
    with sources_lock(sources_dir):
        load_metadata(sources_dir)  # a broken sources.toml stops the pass before anything changes
        state = read_state(index_dir)
        mirror = _mirror_name(real, state, sources_dir)
        base = _safe_part(real.name, "synced")
        if str(real) not in state["folders"] and mirror != base and (sources_dir / base).exists():
            note = f"sources/{base}/ was not made by this sync (added by hand, or another folder's): mirrored into sources/{mirror}/"
        else:
            note = ""
        _mark_mirror(sources_dir, mirror, real)
        entry = state["folders"].get(str(real), {})
        records: dict[str, dict] = dict(entry.get("records", {}))  # target -> {"stat": [size, mtime], "sha256": ...}
        report = SyncReport(str(real), mirror, note=note)
        incoming, report.skipped = _listing(real, mirror)
        present = {f for f in managed_sources(sources_dir) if f.startswith(mirror + "/")}

        # Unchanged files are told by size and mtime against the last pass, and the copy still there.
        todo: dict[str, tuple[Incoming, str]] = {}  # target -> (file, sha256 of the bytes read)
        for target, item in incoming.items():
            try:
                key = _stat_key(item.path)
                record = records.get(target)
                if record and record.get("stat") == key and target in present:
                    report.unchanged += 1
                    continue
                data = item.path.read_bytes()
            except OSError as exc:  # gone or unreadable since the listing: the next pass sees it again
                # Its copy (if any) stays until the file can be read again: unreadable is not deleted.
                report.skipped.append(Skipped(str(item.path), f"cannot read: {exc.strerror or exc}"))
                continue
            digest = fingerprint_bytes(data)
            if target in present and fingerprint_bytes((sources_dir / target).read_bytes()) == digest:
                records[target] = {"stat": key, "sha256": digest}
                report.unchanged += 1
                continue
            todo[target] = (item, digest)

        # Same bytes under a new path: moved, with its table (nothing is lost, so nothing to trash).
        gone = sorted(present - set(incoming))
        gone_by_digest: dict[str, list[str]] = {}  # sha256 of the copy -> gone files with those bytes
        for target in gone:
            gone_by_digest.setdefault(fingerprint_bytes((sources_dir / target).read_bytes()), []).append(target)
        for target, (item, digest) in list(todo.items()):
            if target not in present and gone_by_digest.get(digest):
                old = gone_by_digest[digest].pop(0)
                _move_source(old, target, sources_dir)
                records[target] = {"stat": _stat_key(item.path), "sha256": digest}
                records.pop(old, None)
                report.renamed.append((old, target))
                del todo[target]
        # Gone from the folder: to the trash.
        renamed_from = {old for old, _ in report.renamed}
        report.removed = [t for t in gone if t not in renamed_from]
        for target in report.removed:
            _to_trash(target, sources_dir, trash_dir, reason="removed by sync")
            _remove_empty_parents(sources_dir / target, sources_dir)
            records.pop(target, None)

        claimed: dict[str, Path] = {}
        for target, (item, digest) in todo.items():
            replacing = target in present
            result = _add_one(item, sources_dir, trash_dir, "keep", MAX_FILE_BYTES, claimed)
            if isinstance(result, Skipped):
                report.skipped.append(result)
                continue
            records[target] = {"stat": _stat_key(item.path), "sha256": digest}
            (report.updated if replacing else report.added).append(target)

        state["folders"][str(real)] = {
            "mirror": mirror,
            "last_sync": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": sum(1 for t in incoming if t in records),
            "summary": report.summary(),
            "watching": bool(entry.get("watching", False)),
            "watch": str(entry.get("watch", WATCHING if entry.get("watching") else "")),
            "records": {t: r for t, r in records.items() if t in incoming},
        }
        _write_state(index_dir, state)
        if report.updated or report.removed:
            prune(sources_dir, trash_dir, limits)
    return report


def _remove_empty_parents(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


READY, CHANGED, GONE, BACK = "ready", "changed", "gone", "back"  # what watch_bursts yields


def _identity(folder: Path) -> tuple[int, int] | None:
    """Which folder is at this path (device, inode), or None when no folder is."""
    try:
        stat = os.stat(folder)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino) if os.path.isdir(folder) else None


def watch_bursts(folder: Path, stop=None, debounce_ms: int = 400, poll_seconds: float = 0.5) -> Iterator[str]:
    """Follow `folder`: READY once the watch is in place (a pass then catches what changed before it);
    CHANGED once per burst of changes under it (watchfiles coalesces a burst of events: an editor's
    save-and-rename, a copied folder), hidden files ignored; GONE once when the folder is deleted or
    moved away; BACK when a folder is at its path again (recreated, or moved back), once the new one
    is watched, so a pass then misses nothing. Blocks until `stop` is set.

    An inotify watch follows the folder it was put on, not its path: a folder deleted and made again
    would never be seen. So the path is checked at every tick (a second at most) and the watch is
    put again on whatever folder is there.
    """
    from watchfiles import DefaultFilter, watch

    class Visible(DefaultFilter):
        def __call__(self, change, path: str) -> bool:
            relative = Path(path).relative_to(folder) if Path(path).is_relative_to(folder) else Path(path)
            return super().__call__(change, path) and not any(part.startswith(".") for part in relative.parts)

    pending = READY  # said at the first tick of a new watch: the watcher is in place by then
    while not (stop is not None and stop.is_set()):
        identity = _identity(folder)
        if identity is None:
            yield GONE
            while _identity(folder) is None:
                if stop is not None and stop.is_set():
                    return
                time.sleep(poll_seconds)
            pending = BACK
            continue
        try:
            for changes in watch(folder, watch_filter=Visible(), debounce=debounce_ms, step=50, stop_event=stop,
                                 rust_timeout=1000, yield_on_timeout=True):
                if _identity(folder) != identity:
                    break  # deleted, or another folder at its path: put the watch again
                if pending:  # the folder is watched now: the pass after READY or BACK misses nothing
                    event, pending = pending, ""
                    yield event
                elif changes:
                    yield CHANGED
            else:
                return  # stopped
        except FileNotFoundError:
            pass  # gone before the watch was put on it
        if _identity(folder) is not None:
            pending = BACK  # replaced in one go (moved over): the new one is synced once watched


def as_dict(report: SyncReport) -> dict:
    data = asdict(report)
    data["skipped"] = [{"file": s.file, "reason": s.reason} for s in report.skipped]
    return data
