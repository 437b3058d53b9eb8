"""Model files by content: one copy per machine, shared by every index that names them.

An index does not carry the model that built its vectors: its manifest names the model and each
file's sha256 (index/models/query_encoder.py), and the files live once, in the models folder:

    <models folder>/blobs/sha256/<hex>    the file whose sha256 is <hex>

A file is published there when a build or `verbatim models fetch` finds the model's verified
export (a hard link to it: no second copy on disk), so two collections built with the same model
share one copy, and an index whose export was later made again (another torch, another model
version) still finds the exact bytes it was built with.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from index.models.model_files import models_dir, sha256_of

BLOBS = Path("blobs") / "sha256"


def blob_path(sha256: str, models: Path | None = None) -> Path:
    """Where the file with this sha256 is kept in `models` (default: this machine's models folder); it may not be there."""
    return (models or models_dir()) / BLOBS / sha256


def publish(path: Path, sha256: str) -> Path:
    """Keep `path`, whose sha256 the caller has verified to be `sha256`, in the shared store.

    The blob becomes a hard link to `path` (no second copy on disk), replacing whatever had that name,
    so a damaged blob is repaired by the next build or `verbatim models fetch`, and nothing is hashed
    again. Atomic: a reader sees the old blob or the new one.
    """
    blob = blob_path(sha256)
    if blob.is_file() and os.path.samefile(blob, path):
        return blob
    blob.parent.mkdir(parents=True, exist_ok=True)
    part = blob.with_name(f".{sha256}.{secrets.token_hex(3)}.part")
    try:
        try:
            os.link(path, part)
        except OSError:  # a file system without hard links: one copy, kept while it has the right bytes
            if blob.is_file() and sha256_of(blob) == sha256:
                return blob
            shutil.copyfile(path, part)
        part.replace(blob)
    finally:
        part.unlink(missing_ok=True)
    return blob
