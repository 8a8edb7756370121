"""Train the plate recognizer (CTC) on synthetic plates + augmented real openalpr crops.

Dev-time only (torch).  Usage, training venv, from the repo root:

    nohup /work/train-venv/bin/python models/training/train.py --out runs/ocr1 --hours 1.6 \
        > runs/ocr1/train.log 2>&1 &

    # resume / fine-tune from a checkpoint with a new schedule:
    ... train.py --out runs/ocr2 --init runs/ocr1/last.pt --hours 1 --lr 5e-4

Checkpoints: OUT/last.pt (every eval), OUT/best.pt (best exact-match on the ocr-crops validation
sixth; the held-out scene sets are printed but never used to select).
The learning rate follows a warm-up + cosine schedule over *wall-clock* time (`--hours`), so the
run ends annealed whatever the machine's speed.  Export with models/training/export.py.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from platewatch.models.training import synth
from platewatch.models.training.common import (
    ALPHABET,
    BLANK,
    DATA,
    INPUT_H,
    INPUT_W,
    encode,
    fix_eu_label,
    is_holdout_scene,
    is_val_crop,
    loose_crop,
    ocr_crops,
    preprocess,
    scene_boxes,
    write_holdout_lists,
)
from platewatch.models.training.model import PlateNet, load_checkpoint


class RealPool:
    """Training-split real crops, kept in memory (scene images are cut to a window around the box)."""

    def __init__(self) -> None:
        self.crops: list[tuple[np.ndarray, str]] = []
        for path, label in ocr_crops():
            if is_val_crop(Path(path).name):
                continue
            img = cv2.imread(path)
            if img is not None:
                self.crops.append((img, label))
        self.scenes: dict[str, list[tuple[np.ndarray, synth_box, str]]] = {}
        for region in ("us", "eu", "br"):
            items = []
            for b in scene_boxes(region):
                if is_holdout_scene(b.name):
                    continue
                img = cv2.imread(b.image)
                if img is None:
                    continue
                # Window 2x wide, 3x tall around the box so margins can be jittered.
                x0, y0 = max(0, b.x - b.w // 2), max(0, b.y - b.h)
                x1, y1 = min(img.shape[1], b.x + b.w + b.w // 2), min(img.shape[0], b.y + 2 * b.h)
                win = img[y0:y1, x0:x1].copy()
                box = (b.x - x0, b.y - y0, b.w, b.h)
                label = fix_eu_label(b.text) if region == "eu" else b.text
                items.append((win, box, label))
            self.scenes[region] = items

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        r = rng.random()
        region = "crops" if r < 0.5 else ("us" if r < 0.7 else ("eu" if r < 0.85 else "br"))
        if region == "crops" or not self.scenes.get(region):
            img, label = self.crops[int(rng.integers(len(self.crops)))]
            out = synth.camera_crop(
                img,
                rng,
                margin_x=(-0.03, 0.1),
                margin_y=(-0.04, 0.3),
                max_tilt=0.05,
                max_rot_deg=4.0,
                degrade=rng.random() < 0.5,
            )
            return out, label
        win, (x, y, w, h), label = self.scenes[region][int(rng.integers(len(self.scenes[region])))]
        fx, fy = rng.uniform(0.97, 1.35), rng.uniform(1.0, 1.7)
        dx, dy = rng.uniform(-0.05, 0.05), rng.uniform(-0.08, 0.08)
        cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * h
        x0, x1 = int(max(0, cx - w * fx / 2)), int(min(win.shape[1], cx + w * fx / 2))
        y0, y1 = int(max(0, cy - h * fy / 2)), int(min(win.shape[0], cy + h * fy / 2))
        crop = win[y0:y1, x0:x1]
        if rng.random() < 0.4:
            crop = synth.degrade(crop, rng)
        return crop, label


synth_box = tuple[int, int, int, int]


class Mixed(IterableDataset):  # type: ignore[type-arg]
    def __init__(self, real_frac: float, seed: int) -> None:
        self.real_frac = real_frac
        self.seed = seed

    def __iter__(self):  # type: ignore[no-untyped-def]
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        rng = np.random.default_rng([self.seed, wid, int(time.time())])
        pool = RealPool() if self.real_frac > 0 else None
        while True:
            real = pool is not None and rng.random() < self.real_frac
            if real:
                img, label = pool.sample(rng)
            else:
                img, label = synth.synth_sample(rng)
            if img.shape[0] < 4 or img.shape[1] < 4:
                continue
            yield preprocess(img), encode(label), real


def collate(batch):  # type: ignore[no-untyped-def]
    """(images, CTC targets, target lengths, which samples are real crops)."""
    imgs = torch.from_numpy(np.stack([b[0] for b in batch]))
    targets = torch.tensor([c for b in batch for c in b[1]], dtype=torch.long)
    lengths = torch.tensor([len(b[1]) for b in batch], dtype=torch.long)
    real = torch.tensor([b[2] for b in batch], dtype=torch.bool)
    return imgs, targets, lengths, real


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per CTC frame, summed over the frames, averaged over the crops.

    Why (`--distill`): every fine-tune from the shipped weights that learnt the Texas shallow M also
    changed reads the shipped network got right, on real plates it had trained on too, although those
    plates stayed in the mix with their labels (models/EXPERIMENTS.md). A label says only which text is
    right; the teacher's whole distribution also says how sure, and which alternatives come second,
    which is what the pipeline's crop fusion and candidates use. Keeping the student's distribution on
    real crops close to the starting network's ("learning without forgetting", Li and Hoiem 2017)
    leaves only what the real crops do not pin down (the synthetic shallow M) free to move."""
    t = teacher_logits.float().log_softmax(-1)
    s = student_logits.float().log_softmax(-1)
    return (t.exp() * (t - s)).sum(-1).sum(-1).mean()


def initial_model(init: str) -> PlateNet:
    """The network a run starts from: the checkpoint `init`, or random weights when it is empty.
    The data is cut at PLATEWATCH_OCR_INPUT's size, so a checkpoint recorded at another size is
    refused here rather than failing deep in the first forward pass."""
    if not init:
        return PlateNet(input_hw=(INPUT_H, INPUT_W))
    model, _ = load_checkpoint(init)
    if model.input_hw != (INPUT_H, INPUT_W):
        height, width = model.input_hw
        raise SystemExit(f"{init} was trained at {height}x{width}: set PLATEWATCH_OCR_INPUT={height}x{width}")
    return model


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """The starting network as distill_loss's teacher: its own weights, never updated."""
    return copy.deepcopy(model).eval().requires_grad_(False)


def freeze_cnn(model: PlateNet) -> None:
    """Keep the convolutional features as they are and train only how they are read.

    Why (`--freeze-cnn`, ninth attempt): the fine-tunes that learnt the Texas shallow M also lost the
    faint, trained-on `CG2H2U` (read `C22U`: its G and H dropped out), and how far they moved from
    the shipped network decided it (models/EXPERIMENTS.md). If the CNN's features already tell a
    shallow M from an H (the shipped network reads 82 % of rendered shallow Ms), the readout alone
    can learn the M, and the features of faint letters, which the readout was trained on, stay put.
    """
    model.cnn.requires_grad_(False)


def greedy(logits: torch.Tensor) -> list[str]:
    best = logits.argmax(-1).numpy()
    out = []
    for row in best:
        prev, s = BLANK, []
        for k in row:
            if k != prev and k != BLANK:
                s.append(ALPHABET[k - 1])
            prev = k
        out.append("".join(s))
    return out


def load_eval_sets(held_out: bool = False) -> dict[str, tuple[np.ndarray, list[str]]]:
    """The ocr-crops monitoring split, and with `held_out` the held-out scenes' loose crops too.

    Why off by default: a fine-tune is judged on the held-out scenes once, at its end, by a rule fixed
    before it ran (models/README.md); their reads printed at every evaluation would show each
    candidate's held-out score before the rule picks it."""
    sets: dict[str, tuple[np.ndarray, list[str]]] = {}
    xs, ys = [], []
    for path, label in ocr_crops():
        if is_val_crop(Path(path).name):
            img = cv2.imread(path)
            if img is not None:
                xs.append(preprocess(img))
                ys.append(label)
    if xs:
        sets["crops_val"] = (np.stack(xs), ys)
    for region in ("us", "eu", "br") if held_out else ():
        xs, ys = [], []
        cache: dict[str, np.ndarray] = {}
        for b in scene_boxes(region):
            if not is_holdout_scene(b.name):
                continue
            img = cache.setdefault(b.image, cv2.imread(b.image))
            if img is None:
                continue
            crop = loose_crop(img, b)
            if crop.size:
                xs.append(preprocess(crop))
                ys.append(b.text)
        if xs:
            sets[f"{region}_holdout"] = (np.stack(xs), ys)
    return sets


def norm_o0(s: str) -> str:
    return s.replace("O", "0")


FREEZE_BN = False


def native_bf16() -> bool:
    """bf16 autocast pays only where the CPU computes bf16 itself: on an AVX2-only CPU torch emulates
    it and a training step took 10x as long as in f32 (25 s against 2.5 s for a batch of 128)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def train_mode(model: torch.nn.Module) -> None:
    """Training mode; with --freeze-bn the BatchNorms keep their running statistics (a network
    recovered from an IR has them folded into the convolutions, see ir_to_checkpoint.py)."""
    model.train()
    if FREEZE_BN:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()


def evaluate(model: torch.nn.Module, sets: dict[str, tuple[np.ndarray, list[str]]]) -> dict[str, float]:
    model.eval()
    res = {}
    with torch.no_grad():
        for name, (x, ys) in sets.items():
            preds: list[str] = []
            for i in range(0, len(x), 128):
                preds += greedy(model(torch.from_numpy(x[i : i + 128])).float())
            if name.startswith("eu"):
                ok = sum(norm_o0(p) == norm_o0(y) for p, y in zip(preds, ys, strict=True))
            else:
                ok = sum(p == y for p, y in zip(preds, ys, strict=True))
            res[name] = ok / len(ys)
    train_mode(model)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--hours", type=float, default=1.5)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--real-frac", type=float, default=0.35)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--init", default="")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--freeze-bn", action="store_true", help="keep BatchNorm statistics (recovered nets)")
    ap.add_argument(
        "--freeze-cnn",
        action="store_true",
        help="train only the readout (collapse, positions, transformer, head): see freeze_cnn",
    )
    ap.add_argument(
        "--shallow-mw",
        type=float,
        default=synth.SHALLOW_MW_RATE,
        help="share of synthetic registrations drawn with a shallow M and W (synth._plate_glyphs)",
    )
    ap.add_argument(
        "--shallow-letters",
        default=synth.SHALLOW_LETTERS,
        choices=["MW", "M", "W"],
        help="which letters --shallow-mw draws shallow",
    )
    ap.add_argument(
        "--monitor-held-out",
        action="store_true",
        help="also read the held-out scenes' crops at every evaluation (from-scratch runs only)",
    )
    ap.add_argument(
        "--distill",
        type=float,
        default=0.0,
        help="weight of a KL term keeping the outputs on real crops close to --init's (distill_loss)",
    )
    ap.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="evaluate and save an exponential moving average of the weights with this decay (e.g. 0.999)",
    )
    ap.add_argument(
        "--autocast",
        choices=("auto", "bf16", "off"),
        default="auto",
        help="bf16 autocast; auto: only on a CPU with native bf16 (AVX512-BF16 or AMX)",
    )
    args = ap.parse_args()
    use_bf16 = args.autocast == "bf16" or (args.autocast == "auto" and native_bf16())
    global FREEZE_BN
    FREEZE_BN = args.freeze_bn
    synth.SHALLOW_MW_RATE = args.shallow_mw  # read by the renderer in the data loader's workers too
    synth.SHALLOW_LETTERS = args.shallow_letters
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("data:", DATA, "autocast:", "bf16" if use_bf16 else "off (f32)", flush=True)
    write_holdout_lists()
    print("input", f"{INPUT_H}x{INPUT_W}", flush=True)
    model = initial_model(args.init)
    if args.init:
        print("init from", args.init, flush=True)
    teacher = None
    if args.distill:
        if not args.init:
            raise SystemExit("--distill keeps the outputs close to --init's network: give --init")
        teacher = frozen_copy(model)
    if args.freeze_cnn:
        freeze_cnn(model)
    train_mode(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(
        "params",
        sum(p.numel() for p in model.parameters()),
        "trained",
        sum(p.numel() for p in trainable),
        flush=True,
    )
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    ctc = torch.nn.CTCLoss(blank=BLANK, zero_infinity=True)
    sets = load_eval_sets(args.monitor_held_out)
    print({k: len(v[1]) for k, v in sets.items()}, flush=True)
    # A fine-tune on 2 CPU cores takes small, noisy steps; the averaged weights follow the trend
    # and not the last batch (CPU fine-tunes without it ended below their starting point).
    ema = (
        torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema)
        )
        if args.ema
        else None
    )
    kept = ema.module if ema is not None else model
    if args.init:
        res = evaluate(kept, sets)
        print("EVAL step 0 " + " ".join(f"{k}={v:.3f}" for k, v in res.items()), flush=True)
    dl = DataLoader(
        Mixed(args.real_frac, args.seed),
        batch_size=args.batch,
        num_workers=args.workers,
        collate_fn=collate,
        prefetch_factor=4 if args.workers else None,
        persistent_workers=bool(args.workers),
    )
    t0 = time.time()
    total = args.hours * 3600
    best = -1.0
    step, seen, run_loss = 0, 0, 0.0
    run_kl = 0.0
    for imgs, targets, lengths, real in dl:
        frac = min(1.0, (time.time() - t0) / total)
        lr = (
            args.lr
            * min(1.0, (step + 1) / args.warmup)
            * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        )
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(imgs)
        logp = logits.float().log_softmax(-1).transpose(0, 1)  # T, N, C
        in_len = torch.full((imgs.shape[0],), logp.shape[0], dtype=torch.long)
        loss = ctc_loss = ctc(logp, targets, in_len, lengths)
        if teacher is not None and real.any():
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                teacher_logits = teacher(imgs[real])
            kl = distill_loss(logits[real], teacher_logits)
            run_kl = 0.98 * run_kl + 0.02 * float(kl.detach())
            loss = loss + args.distill * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if ema is not None:
            ema.update_parameters(model)
        step += 1  # noqa: SIM113  (a DataLoader over an endless stream: no enumerate needed)
        seen += imgs.shape[0]
        cur = float(ctc_loss.detach())
        run_loss = 0.98 * run_loss + 0.02 * cur if step > 1 else cur
        if step % 50 == 0:
            el = time.time() - t0
            print(
                f"step {step} seen {seen} loss {run_loss:.3f} kl {run_kl:.4f} lr {lr:.2e}"
                f" {seen / el:.0f}/s {el / 60:.1f}min",
                flush=True,
            )
        last = frac >= 1.0
        if step % args.eval_every == 0 or last:
            res = evaluate(kept, sets)
            # Select on the monitoring split only: the held-out scene sets stay untouched test sets.
            score = res.get("crops_val", 0.0)
            print(
                f"EVAL step {step} seen {seen} " + " ".join(f"{k}={v:.3f}" for k, v in res.items()),
                flush=True,
            )
            ck = {
                "model": kept.state_dict(),
                "step": step,
                "seen": seen,
                "eval": res,
                "input_hw": model.input_hw,
            }
            torch.save(ck, out / "last.pt")
            if score > best:
                best = score
                torch.save(ck, out / "best.pt")
                print(f"  new best {score:.3f}", flush=True)
        if last:
            break
    print("done", flush=True)


if __name__ == "__main__":
    main()
