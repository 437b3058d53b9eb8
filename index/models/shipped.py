"""Bi-encoders shipped in the repository (index/models/trained/<folder>/), beside the reader.

Each folder holds `model.onnx` and `tokenizer.json` (each within the repository's 40 MiB rule), a model card
(README.md) and a JSON card naming every file's sha256 and the encoder's pooling and prefixes. They are
chosen like any embedding model (`--model NAME`, VERBATIM_MODEL) and run by onnxruntime
(index/models/onnx_encoder.py); every load checks the sha256, so a damaged file is refused with one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from index.models.model_files import verify_file

TRAINED_DIR = Path(__file__).resolve().parent / "trained"
# name -> (folder under trained/, card file, the command that rebuilds it)
SHIPPED_ENCODERS: dict[str, tuple[str, str, str]] = {
    "multilingual-e5-small-en-es": ("multilingual-e5-small", "e5.json", "python -m eval.studies.dequantize_e5"),
}


@dataclass(frozen=True)
class ShippedEncoder:
    """A shipped bi-encoder: its folder, files with sha256, encoder spec (pooling, prefixes) and provenance."""

    name: str
    folder: Path
    files: dict[str, str]
    spec: dict
    card: dict

    def checks(self) -> list[tuple[Path, str, str]]:
        """(path, sha256, fix) of each file, for verify_file / load_verified."""
        fix = _fix(self.name)
        return [(self.folder / file, sha256, fix) for file, sha256 in self.files.items()]


def _fix(name: str) -> str:
    folder, _, command = SHIPPED_ENCODERS[name]
    return f"run `git checkout -- index/models/trained/{folder}` to restore it, or rebuild it with `{command}`"


def shipped_encoder(name: str, verify: bool = False) -> ShippedEncoder:
    """The shipped encoder `name` as its card describes it; with `verify`, every file's sha256 checked
    (ModelFileError naming the fix otherwise)."""
    from index.models.model_files import ModelFileError

    folder_name, card_file, _ = SHIPPED_ENCODERS[name]
    folder = TRAINED_DIR / folder_name
    try:
        card = json.loads((folder / card_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelFileError(f"{folder / card_file} is missing or unreadable; {_fix(name)}") from None
    encoder = ShippedEncoder(name, folder, dict(card["files"]), dict(card["encoder"]), card)
    if verify:
        for check in encoder.checks():
            verify_file(*check)
    return encoder
