"""One writer at a time for a sources folder (its files and sources.toml), across processes.

The lock is an flock on the folder itself: no lock file among the sources, and the kernel drops it
when its holder dies, so a killed `verbatim add` never leaves the folder locked.
"""

from __future__ import annotations

import fcntl
import os
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
