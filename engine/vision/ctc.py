"""CTC decoding of the plate recognizer's per-frame character probabilities (numpy only).

Why a beam search and not only the best path: later stages (region formats, tracking votes, fuzzy
hotlist matching) need *alternatives* with comparable scores, e.g. `8AB123` vs `BAB123`.  The
prefix beam search sums the probability of every alignment that collapses to the same text, so
its scores are proper sequence probabilities (for peaked outputs close to the product of the
per-character probabilities).

Conventions: `probs` is [T, C] softmax output, class 0 is the CTC blank, class i >= 1 is
`alphabet[i - 1]`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import numpy.typing as npt

from platewatch.engine.plates import PLATE_ALPHABET

BLANK = 0
Probs = npt.NDArray[np.float32]


def greedy_decode(probs: Probs, alphabet: str = PLATE_ALPHABET) -> tuple[str, tuple[float, ...]]:
    """Best-path decoding: argmax per frame, merge repeats, drop blanks.

    Each character's confidence is the highest probability it reached over the frames of its run,
    i.e. how sure the network was at the frame where it "saw" that character best.
    """
    if probs.ndim != 2 or probs.shape[1] != len(alphabet) + 1:
        raise ValueError(f"probs must be [T, {len(alphabet) + 1}], got {probs.shape}")
    best = probs.argmax(axis=1)
    chars: list[str] = []
    confs: list[float] = []
    prev = BLANK
    for t, k in enumerate(best.tolist()):
        if k != BLANK:
            p = float(probs[t, k])
            if k != prev:
                chars.append(alphabet[k - 1])
                confs.append(p)
            elif p > confs[-1]:
                confs[-1] = p
        prev = k
    return "".join(chars), tuple(confs)


def prefix_beam_search(
    probs: Probs,
    beam_width: int = 10,
    top_k: int = 5,
    alphabet: str = PLATE_ALPHABET,
    prune: float = 1e-3,
) -> list[tuple[str, float]]:
    """CTC prefix beam search; returns up to `top_k` (text, probability) pairs, best first.

    `prune` skips characters whose frame probability is below it (they cannot change the top
    beams in any measurable way and skipping them makes blank-dominated frames nearly free).
    """
    if probs.ndim != 2 or probs.shape[1] != len(alphabet) + 1:
        raise ValueError(f"probs must be [T, {len(alphabet) + 1}], got {probs.shape}")
    # beam: prefix (tuple of class ids) -> [p_ending_in_blank, p_ending_in_non_blank]
    beams: dict[tuple[int, ...], list[float]] = {(): [1.0, 0.0]}
    for t in range(probs.shape[0]):
        row = probs[t]
        p_blank = float(row[BLANK])
        cand = np.nonzero(row > prune)[0].tolist()
        if cand == [BLANK]:
            # Nothing but the blank is likely here (most frames of a plate): no prefix can be
            # extended, so the beams stay the same ones and only their mass moves; updating them
            # in place gives the same result as the general step below, without building and
            # sorting a new beam set.
            for prefix, v in beams.items():
                pnb = v[1] * float(row[prefix[-1]]) if prefix else 0.0
                v[0], v[1] = (v[0] + v[1]) * p_blank, pnb
            continue
        nxt: defaultdict[tuple[int, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for prefix, (pb, pnb) in beams.items():
            total = pb + pnb
            # Stay on the same prefix through a blank.
            nxt[prefix][0] += total * p_blank
            last = prefix[-1] if prefix else None
            if last is not None:
                # Repeat of the last character without a blank in between collapses into it.
                nxt[prefix][1] += pnb * float(row[last])
            for k in cand:
                if k == BLANK:
                    continue
                p = float(row[k])
                ext = (*prefix, k)
                if k == last:
                    # A doubled character needs a blank between the two occurrences.
                    nxt[ext][1] += pb * p
                else:
                    nxt[ext][1] += total * p
        ranked = sorted(nxt.items(), key=lambda kv: kv[1][0] + kv[1][1], reverse=True)
        beams = dict(ranked[:beam_width])
        # Renormalise so long sequences do not underflow; scores are rescaled below.
        s = sum(v[0] + v[1] for v in beams.values())
        if s <= 0.0:
            break
        if s < 1e-30:
            for v in beams.values():
                v[0] /= s
                v[1] /= s
    out = [("".join(alphabet[k - 1] for k in prefix), v[0] + v[1]) for prefix, v in beams.items()]
    out.sort(key=lambda x: x[1], reverse=True)
    return out[:top_k]
