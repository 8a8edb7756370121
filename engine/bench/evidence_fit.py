"""Fit the evidence's calibration on the alerts bench's selection half and write it as a constants
module (engine/hotlist/calibration.py), so the weighing ships no hand-set shares.

    python -m platewatch.engine.bench.evidence_fit --photos DIR --crops DIR [--data-dir DIR]

Why fitted, and on what: the recognizer is confidently wrong in ways a rule cannot guess (it reads
O for 0 at 0.999 about one time in ten, C for G almost never), so the chance that the plate has
character c where it read r is learnt from its own reads of plates whose truth is known. Only the
*selection* half of the bench's reads is used (the same split the bench chooses thresholds on), so
the scoring half stays a fair test. Three small models, all fitted with numpy by Newton's method:

- per character (a conditional logit over the alphabet, the read character scoring 0): an
  intercept and a doubt slope inside and outside the confusion class, the candidates' mass on c,
  and the log of the smoothed rate at which the truth was c where r was read (a 36 x 36 table,
  cross-fitted on two folds while the weights are fitted), and whether c's kind (letter or digit)
  fits the read's neighbours better than r's: plates keep letters and digits in runs, so an O between
  two digits is likelier a 0 than an O between letters is;
- the read has the plate's length (a logistic regression on the candidates' mass at that length,
  the least sure character, the read's confidence, and whether it is short);
- a candidate of another length is the plate (a logistic regression on its share of the mass).

With `--fusion` it fits the second opinion's fusion instead (engine/hotlist/fusion.py): the
selection half's reads are matched against the bench's list (`--entries`, 1,000,000 by default)
with the fusion off, and every match the second opinion checked becomes a row (the primary
evidence, the second model's log-odds of the entry over the read, its log-probability of the
entry; was the entry the plate): a logistic regression on those. Fit the calibration first: the
primary evidence is one of the fusion's inputs.

With `--passes N` it fits how a pass's frames are weighed together (engine/hotlist/pass_weights.py):
the selection half's passes (`bench alerts --passes N`) are voted as the tracker votes them, on
their first frames (the provisional read) and on all (the final read), and matched against the
bench's list with the frames' own readings but without the fit; every weighed match becomes a row
(the vote's evidence, each frame's; was the entry the plate): a logistic regression on
`pass_evidence.pass_features`. The frames of one pass are not independent: the fitted weights
say how much a further frame counts.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from platewatch.engine.hotlist import fusion, pass_weights
from platewatch.engine.hotlist.confusion import same_class
from platewatch.engine.hotlist.entry import ALERT_THRESHOLD, ListSettings
from platewatch.engine.hotlist.matcher import fusion_features, neighbour_kinds, read_evidence, read_features
from platewatch.engine.hotlist.pass_evidence import NEUTRAL, logit, pass_features
from platewatch.engine.plates import PLATE_ALPHABET
from platewatch.engine.vision.second_opinion import SecondOpinion

from .alerts import (
    LIST,
    PASS_SEED,
    PROVISIONAL_FRAMES,
    SEED,
    BenchRead,
    bench_index,
    choose_thresholds,
    load_passes,
    load_reads,
    match_all,
    selection_half,
    voted,
)

ALPHABET = PLATE_ALPHABET
K = len(ALPHABET)
AT = {c: i for i, c in enumerate(ALPHABET)}
MASS_EPS = 1e-3
PAIR_SMOOTHING = 0.5
RIDGE = 1e-3
OUT = Path(__file__).resolve().parent.parent / "hotlist" / "calibration.py"
FUSION_OUT = Path(__file__).resolve().parent.parent / "hotlist" / "fusion.py"
PASS_OUT = Path(__file__).resolve().parent.parent / "hotlist" / "pass_weights.py"
#: the fitted probability's thresholds tried for the passes' operating point (a fine grid near 1,
#: where the bench's pass curve reaches 99 % recall)
FINE_THRESHOLDS = tuple(
    sorted({*(round(0.05 * i, 2) for i in range(21)), 0.92, 0.94, 0.96, 0.98, 0.99, 0.995, 0.999})
)
_IS_DIGIT = np.array([c.isdigit() for c in ALPHABET])
_CLASS = np.array([[float(a != b and same_class(a, b)) for b in ALPHABET] for a in ALPHABET])


@dataclass(frozen=True, slots=True)
class Fitted:
    """The three models' weights and the pair table, with what they were fitted on."""

    char: np.ndarray
    pair: np.ndarray
    length: np.ndarray
    candidate: np.ndarray
    indel: tuple[float, float, float, float, float, float]
    reads: int
    positions: int
    errors: int


def doubt(q: np.ndarray) -> np.ndarray:
    """log((1 - q) / q), clipped: the confidence as log-odds of being wrong."""
    q = np.clip(q, 1e-6, 1 - 1e-6)
    out: np.ndarray = np.clip(np.log((1 - q) / q), -14.0, 6.0)
    return out


def positions(reads: Sequence[BenchRead]) -> dict[str, np.ndarray]:
    """One row per character of a read that has its plate's length: read and true character,
    confidence, the candidates' mass on each character, and the read's number (for folds)."""
    read_c, true_c, conf, mass, group, ctx = [], [], [], [], [], []
    for n, r in enumerate(reads):
        ev = read_evidence(r.plate, r.confidence, r.candidates, r.char_confidences)
        if not ev.text or len(ev.text) != len(r.truth):
            continue
        kinds = neighbour_kinds(ev.text)
        for i, (a, b) in enumerate(zip(ev.text, r.truth, strict=True)):
            if a in AT and b in AT:
                ctx.append(kinds[i])
                m = np.zeros(K)
                for c, v in ev.positions[i].items():
                    if c in AT:
                        m[AT[c]] = v
                read_c.append(AT[a])
                true_c.append(AT[b])
                conf.append(ev.char_conf[i])
                mass.append(m)
                group.append(n)
    return {
        "read": np.array(read_c),
        "true": np.array(true_c),
        "conf": np.array(conf),
        "mass": np.array(mass),
        "group": np.array(group),
        "ctx": np.array(ctx, dtype=float).reshape(-1, 2),
    }


def pair_table(read_c: np.ndarray, true_c: np.ndarray) -> np.ndarray:
    """log P(truth c | read r), add-`PAIR_SMOOTHING` smoothed, as a K x K array."""
    counts = np.zeros((K, K))
    np.add.at(counts, (read_c, true_c), 1.0)
    out: np.ndarray = np.log((counts + PAIR_SMOOTHING) / (counts.sum(1, keepdims=True) + PAIR_SMOOTHING * K))
    return out


def char_features(
    read_c: np.ndarray, conf: np.ndarray, mass: np.ndarray, pair: np.ndarray, ctx: np.ndarray
) -> np.ndarray:
    """(rows, K, 7): in class, outside class, their doubt slopes, candidates' mass, pair rate, and
    how much better c's kind (letter or digit) fits the read's neighbours than the read one's;
    `pair` is each row's K log rates, `ctx` each row's (letters, digits) among its two neighbours.
    The read character's own row is all zero (its score is 0)."""
    d = doubt(conf)[:, None]
    cls = _CLASS[read_c]
    other = 1.0 - cls
    other[np.arange(len(read_c)), read_c] = 0.0
    mm = np.log(mass + MASS_EPS) - math.log(MASS_EPS)
    fit_c = ctx[:, _IS_DIGIT.astype(int)]  # (rows, K): neighbours of each candidate's kind
    fit_r = ctx[np.arange(len(read_c)), _IS_DIGIT[read_c].astype(int)][:, None]
    features = np.stack([cls, other, cls * d, other * d, mm, pair, fit_c - fit_r], -1)
    features[np.arange(len(read_c)), read_c] = 0.0
    return features


def _newton(
    evaluate: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]], w: np.ndarray
) -> np.ndarray:
    """Maximise a concave log-likelihood: `evaluate(w)` gives (value, gradient, negative Hessian)."""
    value, grad, hess = evaluate(w)
    for _ in range(100):
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6:
            new = evaluate(w + t * step)
            if new[0] >= value - 1e-9:
                break
            t /= 2
        w = w + t * step
        value, grad, hess = new
        if np.abs(t * step).max() < 1e-7:
            break
    return w


def fit_conditional_logit(features: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Weights w of P(c) ∝ exp(features[c] · w) (a read character's features are 0), ridge `RIDGE`."""
    n, _, p = features.shape
    target = np.zeros(features.shape[:2])
    target[np.arange(n), truth] = 1.0

    def evaluate(w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        s = features @ w
        s -= s.max(1, keepdims=True)
        prob = np.exp(s)
        prob /= prob.sum(1, keepdims=True)
        value = float(np.log(prob[np.arange(n), truth] + 1e-300).sum() - RIDGE / 2 * w @ w)
        grad = np.einsum("nk,nkp->p", target - prob, features) - RIDGE * w
        mean = np.einsum("nk,nkp->np", prob, features)
        hess = np.einsum("nk,nkp,nkq->pq", prob, features, features) - mean.T @ mean + RIDGE * np.eye(p)
        return value, grad, hess

    start = np.zeros(p)
    start[5] = 1.0  # the pair rate: the plain misread table
    return _newton(evaluate, start)


def fit_logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    def evaluate(w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        z = x @ w
        prob = 1 / (1 + np.exp(-z))
        value = float((y * -np.logaddexp(0, -z) + (1 - y) * -np.logaddexp(0, z)).sum() - RIDGE / 2 * w @ w)
        grad = x.T @ (y - prob) - RIDGE * w
        hess = (x * (prob * (1 - prob))[:, None]).T @ x + RIDGE * np.eye(len(w))
        return value, grad, hess

    return _newton(evaluate, np.zeros(x.shape[1]))


def fit(reads: Sequence[BenchRead]) -> Fitted:
    """The three models' weights and the pair table from `reads` (the selection half)."""
    rows = positions(reads)
    folds = rows["group"] % 2
    pair_rows = np.zeros((len(rows["read"]), K))
    for f in (0, 1):  # each row's pair rates from the other fold, so the weight is not flattered
        table = pair_table(rows["read"][folds != f], rows["true"][folds != f])
        pair_rows[folds == f] = table[rows["read"][folds == f]]
    features = char_features(rows["read"], rows["conf"], rows["mass"], pair_rows, rows["ctx"])
    char_w = fit_conditional_logit(features, rows["true"])
    pair = pair_table(rows["read"], rows["true"])

    x_len, y_len, x_cand, y_cand = [], [], [], []
    for r in reads:
        ev = read_evidence(r.plate, r.confidence, r.candidates, r.char_confidences)
        if not ev.text:
            continue
        x_len.append(read_features(ev, r.confidence))
        y_len.append(float(len(ev.text) == len(r.truth)))
        top = ev.mass.get(ev.text, 0.0) or 1.0
        for text, share in ev.mass.items():
            if len(text) != len(ev.text):
                x_cand.append([1.0, math.log(max(share, 1e-9)), math.log(max(share / top, 1e-9))])
                y_cand.append(float(text == r.truth))
    length_w = fit_logistic(np.array(x_len), np.array(y_len))
    cand_w = fit_logistic(np.array(x_cand), np.array(y_cand))
    # a plate one insertion or deletion from a misread of the wrong length: the shares of such
    # reads that dropped one character and that added one, and where (first, last; the rest middle)
    wrong = [(_clean(r.plate), r.truth) for r in reads if r.plate and len(_clean(r.plate)) != len(r.truth)]
    drops = [at for p, t in wrong if (at := _edit_at(p, t)) is not None]
    extras = [at for p, t in wrong if (at := _edit_at(t, p)) is not None]
    indel = (
        (len(drops) + 0.5) / (len(wrong) + 1.0),
        (len(extras) + 0.5) / (len(wrong) + 1.0),
        *_edges(drops),
        *_edges(extras),
    )
    return Fitted(
        char_w,
        pair,
        length_w,
        cand_w,
        indel,
        len(reads),
        len(rows["read"]),
        int((rows["read"] != rows["true"]).sum()),
    )


def _clean(text: str) -> str:
    return "".join(c for c in text.upper() if c in AT)


def _edit_at(short: str, long_: str) -> str | None:
    """Where `long_` has one character more than `short` ("first", "last" or "middle"), else None."""
    if len(long_) != len(short) + 1:
        return None
    at = [i for i in range(len(long_)) if long_[:i] + long_[i + 1 :] == short]
    if not at:
        return None
    return "first" if at[0] == 0 else "last" if at[-1] == len(long_) - 1 else "middle"


def _edges(where: Sequence[str]) -> tuple[float, float]:
    """The smoothed shares of edits at the first and at the last position."""
    n = len(where) + 1.5
    return ((where.count("first") + 0.5) / n, (where.count("last") + 0.5) / n)


def _floats(values: Iterable[float], digits: int = 4) -> str:
    return "(" + ", ".join(f"{round(float(v), digits)!r}" for v in values) + ")"


def write_module(fitted: Fitted, path: Path = OUT) -> None:
    rows = ",\n".join(f"    {_floats(row, 3)}" for row in fitted.pair)
    char_w = _floats(fitted.char)
    length_w = _floats(fitted.length)
    cand_w = _floats(fitted.candidate)
    counts = f"{fitted.reads:,} reads, {fitted.positions:,} characters of which {fitted.errors:,} misread"
    text = f'''# ruff: noqa: E501
"""The evidence's calibration, fitted by `python -m platewatch.engine.bench.evidence_fit`
on the alerts bench's selection half ({counts}).
Generated: refit rather than edit (docs/hotlist.md, "Evidence and tiers").
"""

ALPHABET = "{ALPHABET}"
#: the candidates' mass on a character is taken as log(mass + MASS_EPS) - log(MASS_EPS)
MASS_EPS = {MASS_EPS!r}
#: a character c other than the one read scores (the read one scores 0; P(c) is the softmax):
#: in-class, out-of-class intercepts; in-class, out-of-class slopes on log((1 - q) / q);
#: the candidates' mass on c; log P(truth c | read r) from PAIR_LOG; how many more of the read's
#: two neighbours are of c's kind (letter or digit) than of r's (a plate keeps its runs)
CHAR_WEIGHTS = {char_w}
#: the read has its plate's length: bias, log mass of candidates of the read's length, doubt of the
#: least sure character, doubt of the read, read of at most 4 characters, of at most 3
LENGTH_WEIGHTS = {length_w}
#: a candidate of another length is the plate: bias, log its mass, log its mass over the read's
CANDIDATE_WEIGHTS = {cand_w}
#: of reads of the wrong length: the share that dropped one character of the plate, the share that
#: added one; of those drops, the shares at the first and at the last position (the rest are spread
#: evenly over the middle ones); of those additions, the same
INDEL = {_floats(fitted.indel)}
#: log P(truth is ALPHABET[j] | read ALPHABET[i]), smoothed; row i, column j
# fmt: off
PAIR_LOG = (
{rows},
)
# fmt: on
'''
    path.write_text(text, encoding="utf-8")


def fusion_rows(reads: Sequence[BenchRead], entries: int) -> list[tuple[float, float, float, bool, bool]]:
    """The checked matches of the selection half's reads against the bench's list, fusion off."""
    index = bench_index(entries, reads, (), ListSettings(LIST), SEED)
    rows: list[tuple[float, float, float, bool, bool]] = []
    kept = fusion.WEIGHTS
    fusion.WEIGHTS = None
    try:
        match_all(index, reads, SEED, rows=rows)
    finally:
        fusion.WEIGHTS = kept
    return rows


def fit_fusion(rows: Sequence[tuple[float, float, float, bool, bool]]) -> np.ndarray:
    """Logistic regression of "the entry is the plate" on `fusion_features`."""
    x = np.array([fusion_features(p, d, e, indel) for p, d, e, indel, _ in rows])
    y = np.array([float(t) for *_, t in rows])
    return fit_logistic(x, y)


def write_fusion(
    weights: np.ndarray, rows: Sequence[tuple[float, float, float, bool, bool]], path: Path
) -> None:
    true = sum(1 for *_, t in rows if t)
    text = f'''"""The second opinion's fusion with the primary evidence, fitted by
`python -m platewatch.engine.bench.evidence_fit --fusion` on the alerts bench's selection half
({len(rows):,} checked matches, {true:,} of them the plate). Generated: refit rather than edit
(docs/hotlist.md, "The second opinion").
"""

#: P(entry is the plate) = sigmoid(w . matcher.fusion_features(...)); None: the primary evidence stands
WEIGHTS: tuple[float, ...] | None = {_floats(weights)}
'''
    path.write_text(text, encoding="utf-8")


PassRow = tuple[float, tuple[float, ...], bool]


def pass_rows(passes: Sequence[Sequence[BenchRead]], entries: int) -> list[PassRow]:
    """The weighed matches of the selection half's provisional and final votes against the bench's
    list (all `passes` given: their numbers fix the halves), with each frame's evidence, under
    weights that leave the vote's evidence as it is."""
    index = bench_index(entries, (), passes, ListSettings(LIST), SEED)
    rows: list[PassRow] = []
    kept = pass_weights.WEIGHTS
    pass_weights.WEIGHTS = NEUTRAL
    try:
        for frames in (PROVISIONAL_FRAMES, max(len(p) for p in passes)):
            match_all(index, [voted(p[:frames]) for p in passes], SEED, PASS_SEED, pass_rows=rows)
    finally:
        pass_weights.WEIGHTS = kept
    return rows


def fit_passes(rows: Sequence[PassRow]) -> np.ndarray:
    """Logistic regression of "the entry is the plate" on `pass_features`."""
    x = np.array([pass_features(vote, frames) for vote, frames, _ in rows])
    y = np.array([float(t) for *_, t in rows])
    return fit_logistic(x, y)


def on_alert_scale(
    weights: np.ndarray, passes: Sequence[Sequence[BenchRead]], entries: int
) -> tuple[np.ndarray, float]:
    """The weights with their bias moved so that a pass's evidence reaches the lists' default alert
    threshold where the fitted probability reaches the highest value that keeps 99 % of the
    selection half's passes read within one character alerting (the bench's `choose_thresholds` on
    the final votes), and that value. Why: the fitted probability carries the bench's share of
    listed vehicles (half), the single-frame evidence does not, and one list threshold serves
    both; moving the bias keeps the order of the passes' evidence and puts its operating point
    where a single read's is."""
    index = bench_index(entries, (), passes, ListSettings(LIST), SEED)
    kept = pass_weights.WEIGHTS
    pass_weights.WEIGHTS = tuple(float(w) for w in weights)
    try:
        outcomes, _ = match_all(index, [voted(p) for p in passes], SEED, PASS_SEED)
    finally:
        pass_weights.WEIGHTS = kept
    chosen, _ = choose_thresholds([o for o in outcomes if o.selection], FINE_THRESHOLDS)
    moved = weights.copy()
    moved[0] -= logit(max(chosen, 1e-6)) - logit(ALERT_THRESHOLD)
    return moved, chosen


def write_passes(
    weights: np.ndarray, rows: Sequence[PassRow], passes: int, chosen: float, path: Path
) -> None:
    true = sum(1 for *_, t in rows if t)
    moved = logit(max(chosen, 1e-6)) - logit(ALERT_THRESHOLD)
    text = f'''"""How a pass's frames are weighed together, fitted by
`python -m platewatch.engine.bench.evidence_fit --passes {passes}` on the alerts bench's selection half
({len(rows):,} weighed matches of provisional and final votes, {true:,} of them the plate), the
bias then moved by {moved:.3f} so that the fitted probability {chosen} (from which 99 % of the
selection half's passes read within one alert) meets the default alert threshold.
Generated: refit rather than edit (docs/hotlist.md, "A pass's frames weighed together").
"""

#: P(entry is the plate) = sigmoid(w . pass_evidence.pass_features(...)); None: the vote's evidence stands
WEIGHTS: tuple[float, ...] | None = {_floats(weights)}
#: the last fit's weights (on the alert scale), kept for a refit's comparison and the tests
LAST_FIT: tuple[float, ...] = {_floats(weights)}
'''
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, action="append", default=[])
    parser.add_argument("--crops", type=Path, action="append", default=[])
    parser.add_argument("--synthetic", type=int, default=50_000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--fusion", action="store_true", help="fit the second opinion's fusion")
    parser.add_argument("--entries", type=int, default=1_000_000, help="list size for --fusion, --passes")
    parser.add_argument(
        "--passes", type=int, default=0, help="fit the weighing of a pass's frames on N passes"
    )
    args = parser.parse_args(argv)
    from platewatch.engine.config import load_settings

    settings = load_settings()
    if args.passes:
        passes = load_passes(args.passes, vision=settings.vision, data_dir=args.data_dir or settings.data_dir)
        found = pass_rows(passes, args.entries)
        raw = fit_passes(found)
        weights, chosen = on_alert_scale(raw, passes, args.entries)
        out = args.out or PASS_OUT
        write_passes(weights, found, args.passes, chosen, out)
        print(f"wrote {out}: {len(found):,} rows, fitted {np.round(raw, 3)}, chosen {chosen}")
        return
    reads, _ = load_reads(
        photos=args.photos,
        crops=args.crops,
        synthetic=args.synthetic,
        seed=SEED,
        vision=settings.vision,
        data_dir=args.data_dir or settings.data_dir,
        second=SecondOpinion.load() if args.fusion else None,
    )
    if args.fusion:
        rows = fusion_rows(reads, args.entries)
        weights = fit_fusion(rows)
        out = args.out or FUSION_OUT
        write_fusion(weights, rows, out)
        print(f"wrote {out}: {len(rows):,} rows, weights {np.round(weights, 3)}")
        return
    fitted = fit(selection_half(reads, SEED))
    write_module(fitted, args.out or OUT)
    print(f"wrote {args.out or OUT}: char {np.round(fitted.char, 3)}, length {np.round(fitted.length, 3)}")


if __name__ == "__main__":
    main()
