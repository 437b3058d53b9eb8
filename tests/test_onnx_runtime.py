"""The graph-optimized copies of model files kept between processes (onnx_runtime.optimized_path)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from index.models import onnx_runtime
from index.models.reader import reader_dir, window_tokenizer, windows


def _logits(model: Path, tokenizer) -> list[np.ndarray]:
    onnx_runtime.session.cache_clear()  # a new session, as a new process would make
    made = onnx_runtime.session(str(model), 1)
    cut = windows(tokenizer, "How many prisoners does El Salvador hold?", "By 2024 the prison population reached 119,000 people.")
    return made.run(None, onnx_runtime.batch_arrays(cut, onnx_runtime.input_names(made)))


def test_an_optimized_copy_is_made_once_reused_with_the_same_outputs_and_replaced_with_its_model(tmp_path, monkeypatch):
    model = tmp_path / "reader" / "model.onnx"
    model.parent.mkdir()
    shutil.copy(reader_dir() / "model.onnx", model)
    tokenizer = window_tokenizer(str(reader_dir() / "tokenizer.json"), 256, 96)
    monkeypatch.setenv("VERBATIM_ORT_CACHE", "off")
    assert onnx_runtime.optimized_path(str(model)) is None
    plain = _logits(model, tokenizer)

    monkeypatch.setenv("VERBATIM_ORT_CACHE", str(tmp_path / "cache"))
    first = _logits(model, tokenizer)
    copies = list((tmp_path / "cache").glob("*.onnx"))
    assert copies == [onnx_runtime.optimized_path(str(model))]
    made_at = copies[0].stat().st_mtime_ns
    again = _logits(model, tokenizer)  # loaded from the copy, not optimized again
    assert copies[0].stat().st_mtime_ns == made_at
    for a, b, c in zip(plain, first, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)

    os.utime(model, ns=(made_at + 10**9, made_at + 10**9))  # the model file replaced: a new copy, the old one gone
    _logits(model, tokenizer)
    assert list((tmp_path / "cache").glob("*.onnx")) == [onnx_runtime.optimized_path(str(model))] != copies

    onnx_runtime.optimized_path(str(model)).write_bytes(b"damaged")  # a damaged copy is made again
    for a, b in zip(plain, _logits(model, tokenizer)):
        np.testing.assert_array_equal(a, b)
    assert onnx_runtime.optimized_path(str(model)).stat().st_size > 1000
    onnx_runtime.session.cache_clear()
