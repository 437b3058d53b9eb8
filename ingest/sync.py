"""Keep a copy of a folder that lives elsewhere in the sources folder (`verbatim sync FOLDER [--watch]`).

The folder's files are mirrored below one subfolder of the sources folder (its name, made safe and
unique), so they never mix with sources added by hand and a file gone from the folder is known to be
the sync's to remove. One sync pass, under the sources lock (so two syncs, or a sync and a web upload,
take turns and lose nothing):

- a new or changed file is copied in through the library's add (checked readable first; a changed
  file's old version goes to the trash, as an add's does);
- a file gone from the folder is moved to the trash, restorable with `verbatim restore`;
- a renamed file is the old name trashed and the new one added: its text is the same, so the build
  that follows reuses its vectors (passages are keyed by their text) and its OCR (cached by content).

What each synced folder is and when it was last synced is kept in sync.json in the index folder, for
`verbatim sources` and the web app's Sources tab. The record of each file (size, mtime, sha256) lets a
pass skip files that have not changed without reading them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

# The library's own steps, taken under one hold of the sources lock for the whole pass (its public
# add and remove each take the lock, which is not re-entrant).
from ingest.library import MAX_FILE_BYTES, Incoming, _add_one, _safe_part, _to_trash, default_trash, managed_sources, safe_path
from ingest.lock import sources_lock
from ingest.readers import SUPPORTED_SUFFIXES, Skipped, fingerprint_bytes
from ingest.metadata import load_metadata

SYNC_STATE = "sync.json"


class SyncError(ValueError):
    """A folder that cannot be synced (missing, or overlapping the sources folder); the message says why."""


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

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.renamed)

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


@dataclass(frozen=True)
class SyncedFolder:
    """A line of the Sources tab: a synced folder, where it is mirrored, and its last pass."""

    folder: str
    mirror: str
    last_sync: str
    files: int
    summary: str
    watching: bool


def synced_folders(index_dir: Path) -> list[SyncedFolder]:
    """Every folder synced into this index's sources, from sync.json."""
    return [
        SyncedFolder(folder, str(entry.get("mirror", "")), str(entry.get("last_sync", "")), int(entry.get("files", 0)),
                     str(entry.get("summary", "")), bool(entry.get("watching", False)))
        for folder, entry in sorted(read_state(index_dir)["folders"].items())
    ]


def synced_lines(index_dir: Path) -> list[str]:
    """One line per synced folder, for the Sources tab: where it is mirrored, its last pass, if watched."""
    lines = []
    for item in synced_folders(index_dir):
        watching = "; followed by `verbatim sync --watch`" if item.watching else ""
        lines.append(
            f"Synced folder {item.folder} -> sources/{item.mirror}: last sync {item.last_sync or 'never'}, "
            f"{item.files} files{watching}"
        )
    return lines


def set_watching(index_dir: Path, sources_dir: Path, folder: Path, watching: bool) -> None:
    """Record that `verbatim sync --watch` follows `folder` (or no longer does)."""
    with sources_lock(sources_dir):
        state = read_state(index_dir)
        entry = state["folders"].get(os.path.realpath(folder))
        if entry is not None:
            entry["watching"] = watching
            _write_state(index_dir, state)


# ---------------------------------------------------------------- one pass


def _check_folder(folder: Path, sources_dir: Path) -> Path:
    if not folder.is_dir():
        raise SyncError(f"{folder} is not a folder")
    real, sources = Path(os.path.realpath(folder)), Path(os.path.realpath(sources_dir))
    if real == sources or sources in real.parents or real in sources.parents:
        raise SyncError(f"{folder} overlaps the sources folder {sources_dir}: sync a folder that lives elsewhere")
    return real


def _mirror_name(real: Path, state: dict) -> str:
    """The folder's subfolder in the sources folder: kept from earlier passes, else its name made
    safe, numbered when another synced folder has it."""
    entry = state["folders"].get(str(real))
    if entry and entry.get("mirror"):
        return str(entry["mirror"])
    taken = {str(e.get("mirror")) for e in state["folders"].values()}
    base = _safe_part(real.name, "synced")
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


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


def sync_folder(folder: Path, sources_dir: Path, index_dir: Path, trash_dir: Path | None = None) -> SyncReport:
    """One pass: make sources/<mirror>/ hold exactly the folder's readable files. Holds the sources lock."""
    trash_dir = trash_dir or default_trash(sources_dir)
    sources_dir.mkdir(parents=True, exist_ok=True)
    real = _check_folder(folder, sources_dir)
    with sources_lock(sources_dir):
        load_metadata(sources_dir)  # a broken sources.toml stops the pass before anything changes
        state = read_state(index_dir)
        mirror = _mirror_name(real, state)
        entry = state["folders"].get(str(real), {})
        records: dict[str, dict] = dict(entry.get("records", {}))  # target -> {"stat": [size, mtime], "sha256": ...}
        report = SyncReport(str(real), mirror)
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

        # Gone from the folder: to the trash. Same bytes under a new name: reported as a rename.
        gone = sorted(present - set(incoming))
        gone_by_digest: dict[str, str] = {}  # sha256 -> a gone file with those bytes (one per content)
        for target in gone:
            digest = records.get(target, {}).get("sha256") or fingerprint_bytes((sources_dir / target).read_bytes())
            gone_by_digest.setdefault(digest, target)
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
            if replacing:
                report.updated.append(target)
            elif digest in gone_by_digest:
                report.renamed.append((gone_by_digest.pop(digest), target))
            else:
                report.added.append(target)
        renamed_from = {old for old, _ in report.renamed}
        report.removed = [t for t in gone if t not in renamed_from]

        state["folders"][str(real)] = {
            "mirror": mirror,
            "last_sync": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": sum(1 for t in incoming if t in records),
            "summary": report.summary(),
            "watching": bool(entry.get("watching", False)),
            "records": {t: r for t, r in records.items() if t in incoming},
        }
        _write_state(index_dir, state)
    return report


def _remove_empty_parents(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def watch_bursts(folder: Path, stop=None, debounce_ms: int = 400):
    """Yield once per burst of changes under `folder` (watchfiles coalesces a burst of events: an
    editor's save-and-rename, a copied folder), ignoring hidden files. Blocks until `stop` is set."""
    from watchfiles import DefaultFilter, watch

    class Visible(DefaultFilter):
        def __call__(self, change, path: str) -> bool:
            relative = Path(path).relative_to(folder) if Path(path).is_relative_to(folder) else Path(path)
            return super().__call__(change, path) and not any(part.startswith(".") for part in relative.parts)

    for changes in watch(folder, watch_filter=Visible(), debounce=debounce_ms, step=50, stop_event=stop, rust_timeout=1000, yield_on_timeout=False):
        if changes:
            yield changes


def as_dict(report: SyncReport) -> dict:
    data = asdict(report)
    data["skipped"] = [{"file": s.file, "reason": s.reason} for s in report.skipped]
    return data
