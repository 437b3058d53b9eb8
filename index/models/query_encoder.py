"""Questions -> vectors with onnxruntime: each index carries the ONNX encoder of the model it was built with.

A question needs a small transformer run once on a dozen tokens, not seconds of importing torch. So
every build places the model's verified ONNX export (index/models/onnx_export.py, made once per machine) in
the index folder and records its files' sha256 in the manifest; the query path loads that file with
onnxruntime and verifies it. Models that exist only as ONNX files (index/models/model_files.py) are used
directly. A pipeline that is not transformer -> mean/CLS pooling -> normalise keeps the
sentence-transformers encoder (index/models/embed.py).
"""

from __future__ import annotations

import json
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from index.models.embed import get_embedder
from index.models.model_files import ModelFileError, load_verified, model_checks, models_dir, sha256_of
from index.models.onnx_encoder import EncoderSpec, OnnxEncoder
from index.models.onnx_export import export_model
from index.models.shipped import SHIPPED_ENCODERS, shipped_encoder

ENCODERS_DIR = "encoders"  # in the index folder, shared by its versions


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


def _place(cached: Path, target: Path, files: dict[str, str]) -> None:
    """Hard-link (or copy) the cached export's `files` ({name: sha256}) into the index folder, so an
    index travels whole; a file already there (the same link, or the same bytes) stays."""
    target.mkdir(parents=True, exist_ok=True)
    for file, sha256 in files.items():
        destination = target / file
        if destination.exists() and (os.path.samefile(destination, cached / file) or sha256_of(destination) == sha256):
            continue
        part = target / f".{file}.part"
        part.unlink(missing_ok=True)
        try:
            os.link(cached / file, part)
        except OSError:
            shutil.copyfile(cached / file, part)
        part.replace(destination)


def ensure_query_encoder(index_dir: Path, embedder) -> dict:
    """The manifest entry naming the ONNX question encoder for `embedder`'s model, exported if needed.

    {"kind": "onnx", "path": "encoders/<name>", "files": {file: sha256}, "spec": {...}} for an export;
    {"kind": "packaged" | "shipped", "name": ..., "spec": ...} for a model that ships as ONNX (in a wheel, in
    the repository); {"kind":
    "sentence-transformers"} when the pipeline cannot be reproduced (questions then use torch).
    """
    if isinstance(embedder, OnnxEncoder) and embedder.export is None:
        kind = "shipped" if embedder.name in SHIPPED_ENCODERS else "packaged"
        return {"kind": kind, "name": embedder.name, "spec": embedder.spec.to_dict()}
    cached = embedder.export if isinstance(embedder, OnnxEncoder) else export_model(embedder)
    if cached is None:
        return {"kind": "sentence-transformers"}
    spec = EncoderSpec.from_dict(json.loads((cached / "spec.json").read_text()))
    # The sha256 recorded when the export was made (and checked when it was loaded): not hashed again.
    files = json.loads((cached / "export.json").read_text())["files"]
    _place(cached, Path(index_dir) / ENCODERS_DIR / cached.name, files)
    return {"kind": "onnx", "path": f"{ENCODERS_DIR}/{cached.name}", "files": files, "spec": spec.to_dict()}


@lru_cache(maxsize=8)
def _open(index_dir: str, entry_json: str, model: str) -> TextEncoder:
    entry = json.loads(entry_json)
    spec = EncoderSpec.from_dict(entry.get("spec", {}))
    if entry.get("kind") == "onnx":
        folder = Path(index_dir) / entry["path"]
        fix = "run `verbatim build --full` to export it again"
        checks = [(folder / file, sha256, fix) for file, sha256 in entry["files"].items()]
        return load_verified(checks, lambda: OnnxEncoder(folder / "model.onnx", folder / "tokenizer.json", spec, name=model))
    if entry.get("kind") == "shipped":
        shipped = shipped_encoder(entry["name"])
        return load_verified(
            shipped.checks(),
            lambda: OnnxEncoder(shipped.folder / "model.onnx", shipped.folder / "tokenizer.json", spec, name=entry["name"]),
        )
    if entry.get("kind") == "packaged":
        folder = models_dir() / entry["name"]
        return load_verified(
            model_checks(entry["name"]),
            lambda: OnnxEncoder(folder / "model.onnx", folder / "tokenizer.json", spec, name=entry["name"]),
        )
    return get_embedder(model)


def open_query_encoder(index_dir: Path, entry: dict, model: str) -> TextEncoder:
    """The question encoder an index's manifest names, loaded once per process and verified.

    Raises ModelFileError (one line naming the fix) when its file is missing or altered.
    """
    return _open(str(index_dir), json.dumps(entry, sort_keys=True), model)


__all__ = ["ModelFileError", "TextEncoder", "ensure_query_encoder", "open_query_encoder"]
