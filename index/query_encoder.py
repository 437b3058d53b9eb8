"""Questions -> vectors with onnxruntime: each index carries the ONNX encoder of the model it was built with.

Importing torch and transformers costs seconds; a question needs a small transformer run once on a
dozen tokens. So a build (which has the model loaded anyway) exports the model to ONNX once per
machine, checks that the export gives the same vectors, places it in the index folder and records
its sha256 in the manifest. The query path then loads that file with onnxruntime and verifies it.
Models that exist only as ONNX files (index/model_files.py) are used directly. A pipeline that is
not transformer -> mean/CLS pooling -> normalise keeps the sentence-transformers encoder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from index.model_files import ModelFileError, load_verified, model_checks, models_dir, sha256_of
from index.onnx_encoder import EncoderSpec, OnnxEncoder

ENCODERS_DIR = "encoders"  # in the index folder, shared by its versions
# The export must reproduce the model's own vectors: checked on these before it is used.
PROBES = [
    "How many people are in prison in El Salvador?",
    "CECOT",
    "¿Cuántas personas están presas? 萨尔瓦多有多少囚犯？",
    "What did the U.S. State Department say about the $7.77 billion budget and the 1.9% figure?",
    " ".join(["a very long question about prisons"] * 120),
]
MIN_COSINE = 0.99999


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


def exportable_spec(path: Path) -> EncoderSpec | None:
    """The EncoderSpec of a local sentence-transformers model that is Transformer -> mean or CLS
    Pooling -> Normalize (what ONNX plus numpy pooling reproduces exactly), else None."""
    try:
        modules = json.loads((path / "modules.json").read_text())
        types = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((path / modules[1]["path"] / "config.json").read_text())
        config = json.loads((path / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, IndexError):
        return None
    if types != ["Transformer", "Pooling", "Normalize"] or modules[0]["path"] not in ("", "."):
        return None
    if config.get("do_lower_case") or pooling.get("include_prompt") is False:
        return None
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    kind = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}.get(next(iter(modes), ""))
    if len(modes) != 1 or kind is None or not (path / "tokenizer.json").is_file():
        return None
    return EncoderSpec(pooling=kind, max_tokens=int(config.get("max_seq_length", 512)))


def _model_key(path: Path) -> str:
    """A content hash of the files that decide a model's vectors (weights, configs, tokenizer)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".json", ".txt")):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(sha256_of(file).encode())
    return digest.hexdigest()[:16]


def _export(embedder, spec: EncoderSpec, folder: Path, source: Path) -> None:
    """Write model.onnx + tokenizer.json for `embedder`'s transformer into `folder` (needs torch)."""
    import torch

    transformer = embedder._model[0].auto_model.eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    batch = embedder._tokenizer(["a question", "a somewhat longer example sentence"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    inputs = tuple(batch.get(n, torch.zeros_like(batch["input_ids"])) for n in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    import warnings

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(transformer), inputs, str(folder / "model.onnx"), input_names=names,
            output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )
    shutil.copyfile(source / "tokenizer.json", folder / "tokenizer.json")
    (folder / "spec.json").write_text(json.dumps(spec.to_dict()))


def _place(cached: Path, target: Path) -> None:
    """Hard-link (or copy) the cached export into the index folder, so an index travels whole."""
    target.mkdir(parents=True, exist_ok=True)
    for file in ("model.onnx", "tokenizer.json"):
        destination = target / file
        if destination.exists() and sha256_of(destination) == sha256_of(cached / file):
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
    {"kind": "packaged", "name": ..., "spec": ...} for a model that ships as ONNX; {"kind":
    "sentence-transformers"} when the pipeline cannot be reproduced (questions then use torch).
    """
    if isinstance(embedder, OnnxEncoder):
        return {"kind": "packaged", "name": embedder.name, "spec": embedder.spec.to_dict()}
    from index.embed import resolve_model

    source = Path(resolve_model(embedder.name))
    spec = exportable_spec(source) if source.is_dir() else None
    if spec is None:
        return {"kind": "sentence-transformers"}
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder.name.rsplit(":", 1)[-1].rstrip("/").rsplit("/", 1)[-1]) or "model"
    name = f"{slug}-{_model_key(source)}"
    cached = models_dir() / "exports" / name
    if not (cached / "model.onnx").is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cached.parent))
        try:
            _export(embedder, spec, tmp, source)
            onnx = OnnxEncoder(tmp / "model.onnx", tmp / "tokenizer.json", spec)
            agreement = np.sum(onnx.encode(PROBES) * embedder.encode(PROBES), axis=1)
            if float(agreement.min()) < MIN_COSINE:
                return {"kind": "sentence-transformers", "export_refused": f"cosine {float(agreement.min()):.6f}"}
            try:
                tmp.rename(cached)
            except OSError:
                # Another build on this machine exported the same model first: theirs is as good.
                if not (cached / "model.onnx").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    _place(cached, Path(index_dir) / ENCODERS_DIR / name)
    files = {f: sha256_of(cached / f) for f in ("model.onnx", "tokenizer.json")}
    return {"kind": "onnx", "path": f"{ENCODERS_DIR}/{name}", "files": files, "spec": spec.to_dict()}


@lru_cache(maxsize=8)
def _open(index_dir: str, entry_json: str, model: str) -> TextEncoder:
    entry = json.loads(entry_json)
    spec = EncoderSpec.from_dict(entry.get("spec", {}))
    if entry.get("kind") == "onnx":
        folder = Path(index_dir) / entry["path"]
        fix = "run `verbatim build --full` to export it again"
        checks = [(folder / file, sha256, fix) for file, sha256 in entry["files"].items()]
        return load_verified(checks, lambda: OnnxEncoder(folder / "model.onnx", folder / "tokenizer.json", spec, name=model))
    if entry.get("kind") == "packaged":
        folder = models_dir() / entry["name"]
        return load_verified(
            model_checks(entry["name"]),
            lambda: OnnxEncoder(folder / "model.onnx", folder / "tokenizer.json", spec, name=entry["name"]),
        )
    from index.embed import get_embedder

    return get_embedder(model)


def open_query_encoder(index_dir: Path, entry: dict, model: str) -> TextEncoder:
    """The question encoder an index's manifest names, loaded once per process and verified.

    Raises ModelFileError (one line naming the fix) when its file is missing or altered.
    """
    return _open(str(index_dir), json.dumps(entry, sort_keys=True), model)


__all__ = ["ModelFileError", "TextEncoder", "ensure_query_encoder", "exportable_spec", "open_query_encoder"]
