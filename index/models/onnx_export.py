"""A sentence-transformers model's ONNX export, made once per machine and checked to give its vectors.

Importing torch and transformers costs seconds; a question needs a small transformer run once on a
dozen tokens. So a local model whose pipeline is transformer -> mean/CLS pooling -> normalise is
exported to ONNX once per machine (`verbatim models fetch`, run by `make setup`, or the first build)
into the models folder's exports/, the export is checked to give the model's own vectors on PROBES,
and its files' sha256 are recorded beside it (export.json), so every later load can check them.
Builds embed with the export when it exists (index/models/embed.py), and its files, kept once per
machine by sha256 (index/models/model_store.py), encode every index's questions
(index/models/query_encoder.py). This module needs torch only to make an export.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from index.models.model_files import ModelFileError, models_dir, resolve_model, sha256_of, verify_file
from index.models.model_store import publish
from index.models.onnx_encoder import EncoderSpec, OnnxEncoder

# The export must reproduce the model's own vectors: checked on these before it is used.
PROBES = [
    "How many people are in prison in El Salvador?",
    "CECOT",
    "¿Cuántas personas están presas? 萨尔瓦多有多少囚犯？",
    "What did the U.S. State Department say about the $7.77 billion budget and the 1.9% figure?",
    " ".join(["a very long question about prisons"] * 120),
]
MIN_COSINE = 0.99999


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


def _export_target(model: str) -> tuple[Path, EncoderSpec, Path] | None:
    """(model folder, spec, cache folder of its export) for an exportable local model, else None."""
    source = Path(resolve_model(model))
    spec = exportable_spec(source) if source.is_dir() else None
    if spec is None:
        return None
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model.rsplit(":", 1)[-1].rstrip("/").rsplit("/", 1)[-1]) or "model"
    return source, spec, models_dir() / "exports" / f"{slug}-{_model_key(source)}"


def _export_checks(folder: Path) -> list[tuple[Path, str, str]]:
    """(file, sha256, fix) of an export, as recorded when it was made and checked against the model."""
    fix = "run `verbatim models fetch` to export the model again"
    try:
        recorded = json.loads((folder / "export.json").read_text())["files"]
    except (OSError, ValueError, KeyError):
        return [(folder / "export.json", "", fix)]
    return [(folder / file, sha256, fix) for file, sha256 in recorded.items()]


def cached_export(model: str) -> tuple[Path, EncoderSpec] | None:
    """The verified ONNX export of `model` on this machine (folder, spec), or None when there is none.

    Raises ModelFileError when an export exists but its files are not the ones recorded when it was made.
    An export from before exports were recorded (no export.json) counts as none: the next build
    with torch checks it against the model and records it.
    """
    target = _export_target(model)
    if target is None or not (target[2] / "export.json").is_file():
        return None
    for check in _export_checks(target[2]):
        verify_file(*check)
    return target[2], target[1]


def publish_export(folder: Path) -> dict[str, str]:
    """Keep a verified export's files in the shared store by sha256; {file: sha256} as recorded when it was made."""
    files = json.loads((folder / "export.json").read_text())["files"]
    for file, sha256 in files.items():
        publish(folder / file, sha256)
    return files


def _agreement(folder: Path, spec: EncoderSpec, embedder) -> float:
    onnx = OnnxEncoder(folder / "model.onnx", folder / "tokenizer.json", spec)
    return float(np.sum(onnx.encode(PROBES) * embedder.encode(PROBES), axis=1).min())


def _record(folder: Path, embedder, agreement: float) -> None:
    files = {f: sha256_of(folder / f) for f in ("model.onnx", "tokenizer.json")}
    record = {"model": embedder.name, "files": files, "min_cosine": agreement, "probes": len(PROBES)}
    part = folder / ".export.json.part"
    part.write_text(json.dumps(record, indent=1))
    part.replace(folder / "export.json")


def exportable(model: str) -> bool:
    """Whether `model` is a local sentence-transformers folder that an ONNX export reproduces."""
    return _export_target(model) is not None


def export_model(embedder, force: bool = False) -> Path | None:
    """Export `embedder`'s model to ONNX once per machine (needs torch) and return the export's folder.

    The export is kept only if it reproduces the model's own vectors on PROBES (cosine >= MIN_COSINE),
    and its files' sha256 are recorded (export.json) so later loads can check them. None when the
    model's pipeline cannot be reproduced or the export disagrees.
    """
    target = _export_target(embedder.name)
    if target is None:
        return None
    source, spec, cached = target
    if force:
        shutil.rmtree(cached, ignore_errors=True)
    if (cached / "model.onnx").is_file():
        try:
            if cached_export(embedder.name) is not None:
                return cached
            agreement = _agreement(cached, spec, embedder)
            if agreement >= MIN_COSINE:  # made before exports were recorded
                _record(cached, embedder, agreement)
                return cached
        except (ModelFileError, OSError, ValueError, RuntimeError):
            pass
        # Damaged or disagreeing: export again (the shared store keeps its own link to the old files).
        shutil.rmtree(cached, ignore_errors=True)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cached.name}-", dir=cached.parent))
    try:
        _export(embedder, spec, tmp, source)
        agreement = _agreement(tmp, spec, embedder)
        if agreement < MIN_COSINE:
            return None
        _record(tmp, embedder, agreement)
        try:
            tmp.rename(cached)
        except OSError:
            # Another build on this machine exported the same model first: theirs is as good.
            if not (cached / "export.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cached
