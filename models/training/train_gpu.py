"""Continue training on a CUDA GPU: train.py's data, model and loss, with a large batch.

The synthetic renderer is CPU-bound, so the data loader uses every core but one; on a 16-core
H200 machine this trains ~2,300 samples/s, about 25x the 2-core CPU run. Checkpoints go to
$OUT/gpu_last.pt every minute and at the end.

    PLATEWATCH_DATA=packed/ OUT=out/ python3 models/training/train_gpu.py INIT.pt SECONDS [PEAK_LR]

INIT `scratch` starts from random weights at the input size PLATEWATCH_OCR_INPUT gives (e.g.
96x240; default 64x160); a checkpoint is continued at the size it records, which
PLATEWATCH_OCR_INPUT must give too (the data is cut at that size).

Environment: FREEZE_BN=1 for a checkpoint recovered from the IR; SHALLOW_MW=0.35 draws that share
of synthetic registrations with condensed-font M and W (train.py --shallow-mw), SHALLOW_LETTERS=M
only the M (--shallow-letters); SEED=n is mixed into the data stream's seed with the start time
(default 7), so parallel runs draw different samples; DISTILL=1.0 adds train.py's distillation term
(--distill: the outputs on real crops kept close to INIT's); FREEZE_CNN=1 trains only the readout
(--freeze-cnn); DEVICE=cpu runs a smoke test without a GPU.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from platewatch.models.training import train as T


def main() -> None:
    init, seconds = sys.argv[1], float(sys.argv[2])
    peak = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-3
    out = Path(os.environ.get("OUT", "."))
    dev = torch.device(os.environ.get("DEVICE", "cuda"))
    model = T.initial_model("" if init == "scratch" else init)
    distill = float(os.environ.get("DISTILL", "0"))
    teacher = T.frozen_copy(model).to(dev) if distill else None
    # FREEZE_BN=1 for a checkpoint recovered from the IR (ir_to_checkpoint.py): BatchNorm folded.
    T.FREEZE_BN = os.environ.get("FREEZE_BN") == "1"
    # Set before the DataLoader forks its workers, which render with the module's value.
    T.synth.SHALLOW_MW_RATE = float(os.environ.get("SHALLOW_MW", T.synth.SHALLOW_MW_RATE))
    T.synth.SHALLOW_LETTERS = os.environ.get("SHALLOW_LETTERS", T.synth.SHALLOW_LETTERS)
    if os.environ.get("FREEZE_CNN") == "1":
        T.freeze_cnn(model)
    model.to(dev)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=peak, weight_decay=0.01)
    ctc = torch.nn.CTCLoss(blank=T.BLANK, zero_infinity=True)
    sets = T.load_eval_sets()

    def evaluate() -> dict[str, float]:
        model.eval()
        res = {}
        with torch.no_grad():
            for name, (x, ys) in sets.items():
                preds: list[str] = []
                for i in range(0, len(x), 512):
                    preds += T.greedy(model(torch.from_numpy(x[i : i + 512]).to(dev)).float().cpu())
                f = T.norm_o0 if name.startswith("eu") else (lambda s: s)
                res[name] = sum(f(p) == f(y) for p, y in zip(preds, ys, strict=True)) / len(ys)
        T.train_mode(model)
        return res

    workers = max(1, (os.cpu_count() or 2) - 1)
    dl = DataLoader(
        T.Mixed(0.35, int(os.environ.get("SEED", "7"))),
        batch_size=256,
        num_workers=workers,
        collate_fn=T.collate,
        prefetch_factor=8,
        persistent_workers=True,
    )
    print("start", evaluate(), flush=True)
    t0 = last_save = time.time()
    step = seen = 0
    for imgs, targets, lengths, real in dl:
        frac = min(1.0, (time.time() - t0) / seconds)
        lr = peak * min(1.0, (step + 1) / 200) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        imgs = imgs.to(dev, non_blocking=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            logits = model(imgs)
        logp = logits.float().log_softmax(-1).transpose(0, 1)
        in_len = torch.full((imgs.shape[0],), logp.shape[0], dtype=torch.long)
        loss = ctc(logp, targets.to(dev), in_len.to(dev), lengths.to(dev))
        if teacher is not None and real.any():
            r = real.to(dev)
            with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16):
                teacher_logits = teacher(imgs[r])
            loss = loss + distill * T.distill_loss(logits[r], teacher_logits)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1  # noqa: SIM113  (an endless DataLoader stream)
        seen += imgs.shape[0]
        if time.time() - last_save > 60 or frac >= 1.0:
            last_save = time.time()
            res = evaluate()
            print("EVAL", step, seen, res, flush=True)
            state = {k: v.cpu() for k, v in model.state_dict().items()}
            ck = {"model": state, "seen": seen, "eval": res, "input_hw": model.input_hw}
            torch.save(ck, out / "gpu_last.pt")
        if frac >= 1.0:
            break


if __name__ == "__main__":
    main()
