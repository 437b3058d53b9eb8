"""One writer at a time for a sources folder (its files and sources.toml), across processes.

The lock is an flock on the folder itself: no lock file among the sources, and the kernel drops it
when its holder dies, so a killed `verbatim add` never leaves the folder locked.

The same kernel rule makes a lock the proof that a process is alive (`held_for_life`, `is_held`):
a `verbatim sync --watch` holds one while it follows a folder, so a record it left behind is not
believed after it died.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def sources_lock(sources_dir: Path, shared: bool = False) -> Iterator[None]:
    """Hold the folder exclusively (add, remove, restore) or shared (a build reading it).

    Not re-entrant: the same process must not take it again while holding it.
    """
    sources_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(sources_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class HeldElsewhere(RuntimeError):
    """Another living process holds the lock (`held_for_life`)."""


@contextmanager
def held_for_life(path: Path, tries: int = 20) -> Iterator[None]:
    """Hold `path` exclusively for as long as this process runs the block: the proof that it is alive.

    `is_held` tells another process whether a holder is alive, so a record it left ("watching") is
    believed only while it lives; the kernel drops the lock when the holder dies, even by kill -9.
    A reader checking at this instant holds it for microseconds, hence the few tries; raises
    HeldElsewhere when another holder keeps it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for attempt in range(tries):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == tries - 1:
                    raise HeldElsewhere(str(path)) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def is_held(path: Path) -> bool:
    """Whether a living process holds `path` through `held_for_life`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
