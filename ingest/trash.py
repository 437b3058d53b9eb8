"""How much a trash folder keeps: the last few replaced versions of a file, for so many days, up to a size.

Every save in a synced folder replaces a source, and every replacement is a trash entry: without a
limit a watched folder being edited fills the disk. The limits come from Settings (trash_versions,
trash_max_days, trash_max_mb; env VERBATIM_TRASH_*, flags --trash-*), are applied under the sources
lock after every change that makes an entry, and `verbatim restore --list` prints them with the trash's
size. Only the collection's own entries are touched (a trash folder may be shared through --trash-dir),
and the newest entry always stays, so a removal can be undone at once whatever the limits.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

ENTRY_FILE = "entry.json"


@dataclass(frozen=True)
class TrashLimits:
    """What a trash keeps; 0 turns a limit off."""

    versions: int = 3  # replaced versions kept per file (removals are not versions: they stay until age or size)
    max_days: int = 30  # entries older than this go
    max_mb: int = 1024  # past this size the oldest entries go

    def describe(self) -> str:
        versions = f"the last {self.versions} replaced versions of a file" if self.versions else "every replaced version"
        days = f"{self.max_days} days" if self.max_days else "no age limit"
        size = f"{self.max_mb} MB" if self.max_mb else "no size limit"
        return f"keeps {versions}, {days}, {size}"


def limits_of(settings) -> TrashLimits:
    """The limits the one Settings object holds."""
    return TrashLimits(settings.trash_versions, settings.trash_max_days, settings.trash_max_mb)


# The defaults, which index/config.py's Settings takes too (ingest/ never imports index/).
TRASH_ENV = {"versions": ("VERBATIM_TRASH_VERSIONS", 3), "max_days": ("VERBATIM_TRASH_MAX_DAYS", 30), "max_mb": ("VERBATIM_TRASH_MAX_MB", 1024)}


def env_limit(name: str) -> int:
    """One limit from its environment variable (a whole number, 0: no limit), else its default."""
    variable, default = TRASH_ENV[name]
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"{variable}={value!r}: give a whole number, 0 or more (0: no limit)")
    return int(value)


def default_limits() -> TrashLimits:
    """The limits of the default Settings (environment included), for callers that pass none."""
    return TrashLimits(env_limit("versions"), env_limit("max_days"), env_limit("max_mb"))


@dataclass(frozen=True)
class _Entry:
    folder: Path
    file: str
    reason: str
    removed_ns: int
    size: int


def _entries(trash_dir: Path, owner: str | None) -> list[_Entry]:
    """The entries of `owner`'s collection (every entry when None: the collection's own trash), oldest first."""
    found = []
    if not trash_dir.is_dir():
        return found
    for record_path in trash_dir.glob("*/" + ENTRY_FILE):
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            if owner is not None and record.get("sources") != owner:
                continue
            removed_ns = int(record.get("removed_ns") or record_path.stat().st_mtime_ns)
            size = sum(p.stat().st_size for p in record_path.parent.iterdir() if p.is_file() and not p.is_symlink())
            found.append(_Entry(record_path.parent, str(record["file"]), str(record.get("reason", "removed")), removed_ns, size))
        except (OSError, ValueError, KeyError, AttributeError):
            continue  # unreadable or half-written: neither listed nor counted
    return sorted(found, key=lambda e: (e.removed_ns, e.folder.name))


def _delete(entry: _Entry) -> None:
    # The record first: a crash midway leaves a folder that is no longer listed, never a half entry.
    (entry.folder / ENTRY_FILE).unlink(missing_ok=True)
    shutil.rmtree(entry.folder, ignore_errors=True)


def prune_trash(trash_dir: Path, owner: str | None, limits: TrashLimits, now_ns: int | None = None) -> list[str]:
    """Delete what the limits do not keep (the caller holds the sources lock); returns the ids deleted."""
    entries = _entries(trash_dir, owner)
    if not entries:
        return []
    newest = entries[-1]
    now_ns = now_ns if now_ns is not None else time.time_ns()
    doomed: set[Path] = set()
    if limits.versions:
        replaced: dict[str, list[_Entry]] = {}
        for entry in entries:
            if entry.reason == "replaced":
                replaced.setdefault(entry.file, []).append(entry)
        for versions in replaced.values():
            doomed.update(e.folder for e in versions[: -limits.versions])
    if limits.max_days:
        oldest_kept = now_ns - limits.max_days * 86_400 * 10**9
        doomed.update(e.folder for e in entries if e.removed_ns < oldest_kept)
    if limits.max_mb:
        total = sum(e.size for e in entries if e.folder not in doomed)
        for entry in entries:
            if total <= limits.max_mb * 1024 * 1024:
                break
            if entry.folder not in doomed:
                doomed.add(entry.folder)
                total -= entry.size
    doomed.discard(newest.folder)
    for entry in entries:
        if entry.folder in doomed:
            _delete(entry)
    return sorted(folder.name for folder in doomed)


def trash_usage(trash_dir: Path, owner: str | None) -> tuple[int, int]:
    """(entries, bytes) of `owner`'s collection in the trash."""
    entries = _entries(trash_dir, owner)
    return len(entries), sum(e.size for e in entries)


def owner_of(sources_dir: Path, trash_dir: Path) -> str | None:
    """Whose entries a trash's limits apply to: all of them in the folder's own trash, else the ones
    recorded for this sources folder (entries of another collection, or of none, are not ours to delete)."""
    from ingest.metadata import TRASH_FOLDER

    if Path(trash_dir) == Path(sources_dir) / TRASH_FOLDER:
        return None
    return os.path.realpath(sources_dir)
