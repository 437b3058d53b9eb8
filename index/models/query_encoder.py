"""Questions -> vectors with onnxruntime, by the model an index names (its files are not in the index).

A question needs a small transformer run once on a dozen tokens, not seconds of importing torch. A
build records in its manifest which ONNX encoder made its vectors: the model's name, this machine's
verified export of it (index/models/onnx_export.py, made once per machine) or the packaged model
(index/models/model_files.py), and each file's sha256. The files themselves stay in the models
folder, kept once per machine by sha256 (index/models/model_store.py): an index of 600 passages is a
few MB, not 90, and every collection built with a model shares one copy of it.

At open time each file is found by its sha256 (the shared store, else the model's own folder, else,
for an index made before models were referenced, the copy in its encoders/ folder) and verified;
a file missing or changed refuses the index with one line naming the fix (EncoderUnavailable). A
pipeline that is not transformer -> mean/CLS pooling -> normalise keeps the sentence-transformers
encoder (index/models/embed.py), named by the model alone.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from index.models.embed import get_embedder
from index.models.model_files import PACKAGED, EncoderUnavailable, ModelFileError, load_verified, models_dir
from index.models.model_store import blob_path, publish
from index.models.onnx_encoder import EncoderSpec, OnnxEncoder
from index.models.onnx_export import export_model, publish_export
from index.models.shipped import SHIPPED_ENCODERS, shipped_encoder


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


def ensure_query_encoder(embedder) -> dict:
    """The manifest entry naming the ONNX question encoder for `embedder`'s model, exported if needed.

    {"kind": "onnx", "model": ..., "export": <folder in the models folder's exports/>, "files": {file:
    sha256}, "spec": {...}} for an export; {"kind": "packaged", "name": ..., "files": ..., "spec": ...}
    for a model that ships as ONNX in a wheel; {"kind": "shipped", ...} for one kept in the
    repository (index/models/trained/); {"kind": "sentence-transformers"} when the pipeline cannot be
    reproduced (questions then use torch). The files go to the shared store, not into the index.
    """
    if isinstance(embedder, OnnxEncoder) and embedder.export is None and embedder.name in SHIPPED_ENCODERS:
        files = dict(shipped_encoder(embedder.name).files)  # the package carries them: nothing to publish
        return {"kind": "shipped", "name": embedder.name, "files": files, "spec": embedder.spec.to_dict()}
    if isinstance(embedder, OnnxEncoder) and embedder.export is None:
        files = dict(PACKAGED[embedder.name].files)
        for file, sha256 in files.items():  # verified when the embedder was loaded
            publish(models_dir() / embedder.name / file, sha256)
        return {"kind": "packaged", "name": embedder.name, "files": files, "spec": embedder.spec.to_dict()}
    cached = embedder.export if isinstance(embedder, OnnxEncoder) else export_model(embedder)
    if cached is None:
        return {"kind": "sentence-transformers"}
    spec = EncoderSpec.from_dict(json.loads((cached / "spec.json").read_text()))
    # The sha256 recorded when the export was made (and checked when it was loaded): not hashed again.
    files = publish_export(cached)
    return {"kind": "onnx", "model": embedder.name, "export": cached.name, "files": files, "spec": spec.to_dict()}


def shipped_entry(name: str) -> dict:
    """The manifest entry naming shipped encoder `name` by its files' sha256, as ensure_query_encoder writes it
    (no model is loaded)."""
    shipped = shipped_encoder(name)
    return {"kind": "shipped", "name": name, "files": dict(shipped.files), "spec": dict(shipped.spec)}


def _recorded(folder: Path) -> dict[str, str]:
    """{file: sha256} an export folder says it holds (empty when it says nothing readable)."""
    try:
        return dict(json.loads((folder / "export.json").read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _copies(entry: dict, models: Path, legacy: str) -> list[tuple[Path, dict[str, str]]]:
    """Folders besides the shared store that may hold the entry's files, each with the sha256 it holds them under."""
    if entry.get("kind") == "packaged":
        packaged = PACKAGED.get(entry["name"])
        return [(models / entry["name"], dict(packaged.files))] if packaged else []
    copies = []
    if entry.get("export"):
        folder = models / "exports" / entry["export"]
        copies.append((folder, _recorded(folder)))
    if legacy:  # an index made before models were referenced carries its own copy
        copies.append((Path(legacy), dict(entry["files"])))
    return copies


def _locate(entry: dict, models: Path, legacy: str, name: str, fix: str) -> dict[str, Path]:
    """Where each of the entry's files is on this machine, by its sha256. Raises EncoderUnavailable."""
    copies = _copies(entry, models, legacy)
    found = {}
    for file, sha256 in entry["files"].items():
        places = [blob_path(sha256, models)] + [folder / file for folder, held in copies if held.get(file) == sha256]
        path = next((p for p in places if p.is_file()), None)
        if path is None:
            raise EncoderUnavailable(
                f"this index was built with encoder {name} ({file} sha256 {sha256[:12]}…), which is not on this machine: {fix}"
            )
        found[file] = path
    return found


def _open_shipped(entry: dict) -> TextEncoder:
    """A shipped encoder (in the package), refused in one line when its files are not the ones the
    index was built with."""
    name = entry["name"]
    if name not in SHIPPED_ENCODERS:
        raise EncoderUnavailable(
            f"this index was built with encoder {name}, which this Verbatim does not ship: "
            "run `verbatim build --full` to rebuild the index with a model it has"
        )
    shipped = shipped_encoder(name)
    for file, sha256 in entry.get("files", shipped.files).items():
        if shipped.files.get(file) != sha256:
            raise EncoderUnavailable(
                f"this index was built with encoder {name} ({file} sha256 {sha256[:12]}…), which this Verbatim "
                "ships in another version: run `verbatim build --full` to rebuild the index"
            )
    spec = EncoderSpec.from_dict(entry.get("spec", {}))
    try:
        return load_verified(
            shipped.checks(),
            lambda: OnnxEncoder(shipped.folder / "model.onnx", shipped.folder / "tokenizer.json", spec, name=name),
        )
    except ModelFileError as exc:
        raise EncoderUnavailable(str(exc)) from exc


@lru_cache(maxsize=8)
def _open(models: str, legacy: str, entry_json: str, model: str) -> TextEncoder:
    """The encoder `entry_json` names, its files found under `models` (the models folder, part of the
    cache key: another folder is another machine's files) or in `legacy` (an old index's own copy)."""
    entry = json.loads(entry_json)
    kind = entry.get("kind")
    if kind == "shipped":
        return _open_shipped(entry)
    if kind not in ("onnx", "packaged"):
        return get_embedder(model)
    fetch = f"verbatim models fetch {entry['name']}" if kind == "packaged" else "verbatim models fetch"
    fix = f"run `{fetch}`, or `verbatim build --full` to rebuild the index with the model this machine has"
    if kind == "packaged" and "files" not in entry:  # written before packaged entries recorded their files
        if entry["name"] not in PACKAGED:
            raise EncoderUnavailable(
                f"this index was built with encoder {entry['name']}, which this Verbatim does not know: "
                "run `verbatim build --full` to rebuild the index with a model it has"
            )
        entry["files"] = dict(PACKAGED[entry["name"]].files)
    name = entry.get("model") or entry.get("name") or model
    paths = _locate(entry, Path(models), legacy, name, fix)
    spec = EncoderSpec.from_dict(entry.get("spec", {}))
    checks = [(paths[file], sha256, fix) for file, sha256 in entry["files"].items()]
    try:
        return load_verified(checks, lambda: OnnxEncoder(paths["model.onnx"], paths["tokenizer.json"], spec, name=name))
    except ModelFileError as exc:  # a file with other bytes than the index was built with
        raise EncoderUnavailable(str(exc)) from exc


def open_query_encoder(index_dir: Path, entry: dict, model: str) -> TextEncoder:
    """The question encoder an index's manifest names, loaded once per process and verified.

    Indexes that name the same files share one loaded encoder. Raises EncoderUnavailable (one line
    naming the fix) when a file is not on this machine or is not the file the index was built with.
    """
    legacy = str(Path(index_dir) / entry["path"]) if entry.get("path") else ""
    return _open(str(models_dir()), legacy, json.dumps(entry, sort_keys=True), model)


__all__ = ["EncoderUnavailable", "ModelFileError", "TextEncoder", "ensure_query_encoder", "open_query_encoder"]
