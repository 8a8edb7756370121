"""Matching a read against the index: the rules, the texts a read is looked up by, and the matches.

Rules (docs/hotlist.md, "Matching"), with costs in twentieths of an edit (confusion.UNIT = 20):

- exact: one of the read's texts equals a plate entry.
- fuzzy, `strict` lists: same length, every difference a confusion-class substitution, cost ≤ 10
  (e.g. two B/8-type confusions).
- fuzzy, `lenient` lists (plates of 5+ characters; shorter ones are treated as strict): weighted
  Levenshtein distance ≤ 25, i.e. at most one arbitrary edit (a misread, a dropped or an extra
  character) plus a confusion.
- unknown characters (`?` in a read, or a character whose OCR confidence is very low): at most two, each
  costing 5, same length, the rest equal or confused; never on `off` lists.
- partial: `?` one character, `*` any run, on lists that allow partial entries (policy 462.2(c)); literals
  compare exactly on `off` lists and up to confusions (within the list's budget) otherwise.

Costs below two units mean at most one non-confusion edit, which is what makes the index's
one-deletion neighbourhood complete (index.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from platewatch.codecs import FrameReading
from platewatch.engine.config.choices import Fuzzy
from platewatch.engine.plates import PLATE_ALPHABET

from . import calibration, fusion, pass_evidence, pass_weights
from .confusion import NORMAL_ALPHABET, UNIT, UNKNOWN, cost, normalise, same_class
from .entry import ALERT_THRESHOLD, MAX_PLATE, POSSIBLE_THRESHOLD, WILDCARDS, ListSettings, clean_plate
from .index import DEL_TAG, POS_SHIFT, HotlistIndex, del_code, norm_code

STRICT_MAX = 10
LENIENT_MAX = 25
LENIENT_MIN_LEN = 5
MAX_UNKNOWN = 2
MAX_LOOKUP_LEN = 12
MAX_LOOKUPS = 8
LOW_CHAR_CONFIDENCE = 0.35
#: `doubted_lookups`: a position is searched with any character when its calibrated chance of a
#: misread reaches DOUBT_SUB (the MAX_DOUBTED most doubted at most), a dropped character is searched
#: for when the read's length is doubted by DOUBT_LENGTH (reads of MIN_INSERT_LEN+ characters).
DOUBT_SUB = 0.01
MAX_DOUBTED = 3
DOUBT_LENGTH = 0.05
MIN_INSERT_LEN = 4
KIND_RANK = {"exact": 2, "fuzzy": 1, "partial": 0}
#: A match that is not the read's own plate and has at least this primary evidence is checked by
#: the second opinion (when the read has a crop); below it no threshold would raise it anyway.
VERIFY_MIN = 1e-4
#: Clips of the fusion's features (log-probability differences of the second opinion).
SECOND_CLIP = 5.0
SECOND_CLIP_ENTRY = 8.0
#: below any text the second model can hold (9 slots at its floor of 1e-6 each)
UNHELD = -125.0
PRIMARY_CLIP = 10.0
#: Most frames of a pass weighed (the read message's `frames`; more from a hostile producer are
#: ignored, so a read's cost stays bounded).
MAX_FRAMES = 8

#: The second opinion as the matcher asks it: log P(text) of each text under an independent
#: recognizer on the read's crop, or None when it cannot say (no crop, undecodable).
SecondScorer = Callable[[Sequence[str]], Sequence[float] | None]


@dataclass(frozen=True, slots=True)
class LookupText:
    """A text a read is looked up by: its plate, an alternative reading (vision's candidates), or a
    variant with unreadable characters as `?`; weighted 0..1 against the best of them."""

    text: str
    weight: float


@dataclass(frozen=True, slots=True)
class Match:
    """A read matched an entry: which list and entry, how (kind, cost, score) and through which text."""

    list_name: str
    entry: str
    key: str
    kind: str
    score: float
    cost: int
    candidate: str  # the lookup text that matched (an alert's extra["candidate"])
    priority: int
    fields: dict[str, str]
    #: how likely the vehicle is this entry, from the read's own evidence (`weigh`); 0 until weighed
    evidence: float = 0.0
    #: "alert", "possible" or "" (below the list's possible threshold), set by `weigh`
    tier: str = ""
    #: positions where the read's plate differs from the entry (same length only)
    differs: tuple[int, ...] = ()
    #: when the entry's list was last imported (epoch s), if it ever was
    list_imported_at: float | None = None
    #: the read's own evidence before the second opinion (-1: not weighed)
    primary: float = -1.0
    #: the second opinion: log P2(entry) - log P2(read's plate) on the crop (> 0: the crop supports
    #: the entry over the read), None when it was not asked
    second: float | None = None
    #: log P2(entry) on the crop (how plausible the entry is at all to the second model)
    second_entry: float | None = None
    #: the vote's own evidence before the pass's frames were weighed together (-1: not weighed)
    single: float = -1.0
    #: each frame's own evidence for the entry (empty: the read carried no frames)
    per_frame: tuple[float, ...] = ()


_READ_CHARS = frozenset(PLATE_ALPHABET + "?_")


class _KeepTable(dict[int, int | None]):
    """str.translate table: A-Z 0-9 and `?` kept, `_` → `?`, a-z upper-cased, all else dropped."""

    def __missing__(self, key: int) -> None:
        return None


_CLEAN = _KeepTable({ord(c): ord(c) for c in PLATE_ALPHABET + UNKNOWN})
_CLEAN.update({ord(c.lower()): ord(c) for c in PLATE_ALPHABET if c.isalpha()})
_CLEAN[ord("_")] = ord(UNKNOWN)


def _clean_read_text(text: str) -> str:
    """OCR text as matched: A-Z 0-9, `?` or `_` for an unreadable character; anything else dropped."""
    return text.translate(_CLEAN)


def lookup_texts(
    plate: str,
    confidence: float,
    candidates: Sequence[tuple[str, float]] = (),
    char_confidences: Sequence[float] = (),
) -> list[LookupText]:
    """The texts to try for one read, best first, each weighted by its score relative to the best.

    A character read with very low confidence also yields a variant with that character unknown, so
    a stolen plate is still found when the OCR guessed one character badly.
    """
    raw: list[tuple[str, float]] = [(plate, confidence), *candidates]
    scores = [s for _, s in raw if isinstance(s, float | int) and math.isfinite(s) and s > 0]
    top = max(scores) if scores else 0.0
    out: dict[str, float] = {}

    def add(text: str, score: float) -> None:
        weight = min(1.0, max(0.0, score / top)) if top > 0 and math.isfinite(score) else 1.0
        weight = round(weight, 4)
        if (
            text
            and len(text) <= MAX_LOOKUP_LEN
            and text.count(UNKNOWN) <= MAX_UNKNOWN
            and (text.count(UNKNOWN) < len(text))
            and weight > out.get(text, -1.0)
        ):
            out[text] = weight

    for i, (text, score) in enumerate(raw):
        cleaned = _clean_read_text(text)
        add(cleaned, score)
        if i == 0 and char_confidences and len(char_confidences) == len(text):
            kept = [(c, q) for c, q in zip(text.upper(), char_confidences, strict=True) if c in _READ_CHARS]
            if len(kept) == len(cleaned):
                masked = "".join(UNKNOWN if q < LOW_CHAR_CONFIDENCE or c == "_" else c for c, q in kept)
                if masked != cleaned:
                    add(masked, score)
    ranked = sorted(out.items(), key=lambda item: -item[1])[:MAX_LOOKUPS]
    return [LookupText(text, weight) for text, weight in ranked]


def _limit(fuzzy: Fuzzy) -> int:
    return LENIENT_MAX if fuzzy == "lenient" else STRICT_MAX


def judge_plate(read_text: str, entry: str, fuzzy: Fuzzy) -> tuple[str, int] | None:
    """(kind, cost) when `read_text` matches plate `entry` under the list's leniency, else None."""
    if read_text == entry:
        return ("exact", 0)
    if fuzzy == "off":
        return None
    n, m = len(read_text), len(entry)
    if UNKNOWN in read_text:
        if n != m:
            return None
        total = 0
        for a, b in zip(read_text, entry, strict=True):
            c = cost(a, b)
            if c >= UNIT:
                return None
            total += c
        return ("fuzzy", total) if total <= _limit(fuzzy) else None
    lenient = fuzzy == "lenient" and m >= LENIENT_MIN_LEN
    limit = LENIENT_MAX if lenient else STRICT_MAX
    if n == m:
        total = 0
        for a, b in zip(read_text, entry, strict=True):
            c = cost(a, b)
            if c >= UNIT and not lenient:
                return None
            total += c
            if total > limit:
                return None
        return ("fuzzy", total)
    if not lenient or abs(n - m) != 1:
        return None
    # Exactly one insertion/deletion (a unit), the rest aligned position by position without another unit.
    long, short = (read_text, entry) if n > m else (entry, read_text)
    inf = 10**6
    pre = [0] * (len(long))
    acc = 0
    for i in range(len(short)):
        pre[i] = acc
        c = cost(long[i], short[i])
        acc = inf if c >= UNIT or acc >= inf else acc + c
    pre[len(short)] = acc
    best = inf
    suf = 0
    for i in range(len(long) - 1, -1, -1):
        # drop long[i]: long[:i] ~ short[:i] and long[i+1:] ~ short[i:]
        total = UNIT + pre[i] + suf
        best = min(best, total)
        if i > 0:
            c = cost(long[i], short[i - 1])
            suf = inf if c >= UNIT or suf >= inf else suf + c
    return ("fuzzy", best) if best <= LENIENT_MAX else None


@lru_cache(maxsize=65536)
def _pattern_regex(pattern: str, fuzzy: bool) -> re.Pattern[str]:
    text = normalise(pattern) if fuzzy else pattern
    body = "".join("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in text)
    return re.compile(body)


def judge_pattern(read_text: str, pattern: str, fuzzy: Fuzzy) -> tuple[str, int] | None:
    """(\"partial\", cost) when `read_text` fits `pattern` (`?` one character, `*` any run), else None."""
    loose = fuzzy != "off"
    target = normalise(read_text) if loose else read_text
    if not _pattern_regex(pattern, loose).fullmatch(target):
        return None
    if not loose:
        return ("partial", 0)
    # Cheapest alignment: with `*` several are possible and confusions cost differently.
    inf = 10**6
    n = len(read_text)
    row = [inf] * (n + 1)
    row[0] = 0
    for p in pattern:
        new = [inf] * (n + 1)
        if p == "*":
            best = inf
            for j in range(n + 1):
                best = min(best, row[j])
                new[j] = best
        else:
            for j in range(1, n + 1):
                if row[j - 1] >= inf:
                    continue
                ch = read_text[j - 1]
                if p == "?":
                    new[j] = row[j - 1]
                elif ch != UNKNOWN and same_class(p, ch):
                    new[j] = row[j - 1] + cost(p, ch)
        row = new
    total = row[n]
    return ("partial", total) if total <= _limit(fuzzy) else None


def score(kind: str, cost_: int, text: str, weight: float) -> float:
    """0..1: how sure the match is, before the dispatcher verifies it (policy 462.2(f))."""
    if kind == "exact":
        value = 1.0
    elif kind == "fuzzy":
        value = max(0.0, 1.0 - cost_ / (UNIT * max(1, len(text))))
    else:
        # a pattern says less than a full plate: 7 known characters count as a full plate
        literals = max(1, sum(1 for c in text if c not in WILDCARDS))
        value = max(0.0, 1.0 - cost_ / (UNIT * literals)) * min(1.0, literals / 7)
    return round(value * weight, 4)


_LOW_MASKS = [(1 << (5 * p)) - 1 for p in range(MAX_PLATE + 2)]


def _deletions(code: int, n: int) -> list[int]:
    """Packed codes of the n one-character deletions of a packed string of length n (arithmetic)."""
    return [(code & _LOW_MASKS[p]) | ((code >> (5 * (p + 1))) << (5 * p)) for p in range(n)]


def plate_queries(
    lookups: Sequence[LookupText], index: HotlistIndex
) -> tuple[list[int], list[int], list[int]]:
    """The index keys under which every plate entry that any of `lookups` may match is found.

    Returns the texts' own normalised keys (what strict and exact-only lists can match), the
    keys of their deletions (looked up among entries' normalised keys), and the position-tagged
    deletion keys (looked up among entries' deletions).
    """
    full_q: list[int] = []
    norm_q: list[int] = []
    del_q: list[int] = []
    lenient = index.any_lenient
    seen: set[str] = set()
    for lookup in lookups:
        norm = normalise(lookup.text)
        if norm in seen:  # confusion variants of one reading share their keys
            continue
        seen.add(norm)
        n = len(norm)
        unknowns = norm.count(UNKNOWN)
        if unknowns == 0:
            if n > MAX_PLATE + 1:
                continue
            code = norm_code(norm)  # may hold 11 characters (55 bits): only its deletions are looked up
            if n <= MAX_PLATE:
                full_q.append(code)
            if lenient:
                dels = _deletions(code, n)
                norm_q.extend(dels)
                if n <= MAX_PLATE:
                    del_q.extend(d | (p << POS_SHIFT) | DEL_TAG for p, d in enumerate(dels))
                if n + 1 <= MAX_PLATE:
                    del_q.extend(code | (p << POS_SHIFT) | DEL_TAG for p in range(n + 1))
        elif index.any_fuzzy and n <= MAX_PLATE:
            at = [i for i, c in enumerate(norm) if c == UNKNOWN]
            if unknowns == 1:
                del_q.append(del_code(norm, at[0]))
            else:
                for sym in NORMAL_ALPHABET:
                    filled = norm[: at[1]] + sym + norm[at[1] + 1 :]
                    del_q.append(del_code(filled, at[0]))
    return full_q, norm_q, del_q


def match_texts(index: HotlistIndex, lookups: Sequence[LookupText]) -> list[Match]:
    """Every entry that some lookup text matches, once, with its best (highest-scoring) way of matching."""
    best: dict[int, tuple[float, int, int, str, int, str]] = {}

    def offer(eid: int, kind: str, cost_: int, i: int, text: str, lookup: LookupText) -> None:
        value = score(kind, cost_, text, lookup.weight)
        rank = (value, KIND_RANK[kind], -i)
        old = best.get(eid)
        if old is None or rank > (old[0], old[1], old[2]):
            best[eid] = (value, KIND_RANK[kind], -i, kind, cost_, lookup.text)

    lists = index.lists
    full_q, norm_q, del_q = plate_queries(lookups, index)
    same, near = index.plate_ids(full_q, norm_q, del_q)
    unknown = [i for i, lookup in enumerate(lookups) if UNKNOWN in lookup.text]
    every = range(len(lookups))
    for eid in same | near:
        settings = lists[index.list_of(eid)]
        if not settings.active:
            continue
        # Only lenient lists match across normalised forms; others only by unknown characters.
        tried = every if eid in same or settings.fuzzy == "lenient" else unknown
        if not tried:
            continue
        text = index.text_of(eid)
        for i in tried:
            lookup = lookups[i]
            verdict = judge_plate(lookup.text, text, settings.fuzzy)
            if verdict:
                offer(eid, verdict[0], verdict[1], i, text, lookup)
    if index.any_partial and index.has_patterns:
        looked: dict[str, set[int]] = {}
        for i, lookup in enumerate(lookups):
            norm = normalise(lookup.text)
            ids = looked.get(norm)
            if ids is None:
                ids = looked[norm] = index.pattern_ids(norm)
            for eid in ids:
                settings = lists[index.list_of(eid)]
                if not (settings.active and settings.partial):
                    continue
                text = index.text_of(eid)
                verdict = judge_pattern(lookup.text, text, settings.fuzzy)
                if verdict:
                    offer(eid, verdict[0], verdict[1], i, text, lookup)
    out = []
    for eid, (value, _, _, kind, cost_, lookup_text) in best.items():
        entry = index.entry(eid)
        settings = lists[entry.list_name]
        priority = int(entry.fields["priority"]) if "priority" in entry.fields else settings.priority
        out.append(
            Match(
                entry.list_name,
                entry.text,
                entry.key,
                kind,
                value,
                cost_,
                lookup_text,
                priority,
                entry.fields,
                list_imported_at=settings.imported_at,
            )
        )
    out.sort(key=lambda m: (m.priority, -m.score, m.key))
    return out


# ---- evidence ---------------------------------------------------------------------------------
#
# Each character's evidence is calibrated on the recognizer's own reads (calibration.py, fitted by
# engine/bench/evidence_fit.py): P(the plate has c at i | what was read there) is a softmax over
# the alphabet in which the read character scores 0 and any other c scores by its confusion class,
# the character's doubt, the candidates' mass on c and how often the truth was c where the read
# said r. Nothing here is hand-set.

_CAL_AT = {c: i for i, c in enumerate(calibration.ALPHABET)}
_K = len(calibration.ALPHABET)
_W_IN, _W_OUT, _SLOPE_IN, _SLOPE_OUT, _W_MASS, _W_PAIR, _W_KIND = calibration.CHAR_WEIGHTS
#: per read character r: exp(score without doubt, mass and context) of each other character c, whether
#: it is in r's class and is a digit, and the sums over (in class, digit) (the softmax's normaliser
#: without the candidates)
_BASE: dict[str, dict[str, tuple[float, bool, bool]]] = {}
_SUMS: dict[str, dict[tuple[bool, bool], float]] = {}
for _r in calibration.ALPHABET:
    _row = calibration.PAIR_LOG[_CAL_AT[_r]]
    _BASE[_r] = {
        _c: (
            math.exp((_W_IN if same_class(_r, _c) else _W_OUT) + _W_PAIR * _row[_CAL_AT[_c]]),
            same_class(_r, _c),
            _c.isdigit(),
        )
        for _c in calibration.ALPHABET
        if _c != _r
    }
    _SUMS[_r] = {
        (inside, digit): sum(v for v, i, d in _BASE[_r].values() if i == inside and d == digit)
        for inside in (True, False)
        for digit in (True, False)
    }


def neighbour_kinds(text: str) -> list[tuple[int, int]]:
    """Per position, how many of its two neighbours in `text` are (letters, digits)."""
    out = []
    for i in range(len(text)):
        around = text[max(0, i - 1) : i] + text[i + 1 : i + 2]
        digits = sum(c.isdigit() for c in around)
        out.append((sum(c.isalpha() for c in around), digits))
    return out


def _doubt(q: float) -> float:
    """log((1 - q) / q), clipped as in the fit: a confidence as log-odds of being wrong."""
    q = min(1.0 - 1e-6, max(1e-6, q))
    return min(6.0, max(-14.0, math.log((1.0 - q) / q)))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


@dataclass(frozen=True, slots=True)
class _Position:
    """One read character's calibrated distribution: P(c) = weight(c) / norm, the read one 1 / norm."""

    char: str
    norm: float
    #: exp(slope * doubt + kind weight * context) by (c in the read one's class, c is a digit)
    factor: dict[tuple[bool, bool], float]
    mass: dict[str, float]

    def prob(self, c: str) -> float:
        if self.char not in _BASE or c not in _CAL_AT:
            return 1.0 / _K  # an unreadable character: nothing known
        if c == self.char:
            return 1.0 / self.norm
        base, inside, digit = _BASE[self.char][c]
        m = self.mass.get(c, 0.0)
        boost = ((m + calibration.MASS_EPS) / calibration.MASS_EPS) ** _W_MASS if m > 0 else 1.0
        return base * self.factor[inside, digit] * boost / self.norm


def _position(char: str, q: float, mass: dict[str, float], kinds: tuple[int, int] = (0, 0)) -> _Position:
    if char not in _BASE:
        return _Position(char, float(_K), {}, mass)
    d = _doubt(q)
    letters, digits = kinds
    own = digits if char.isdigit() else letters
    factor = {
        (inside, digit): math.exp(
            (_SLOPE_IN if inside else _SLOPE_OUT) * d + _W_KIND * ((digits if digit else letters) - own)
        )
        for inside in (True, False)
        for digit in (True, False)
    }
    sums = _SUMS[char]
    norm = 1.0 + sum(sums[key] * factor[key] for key in factor)
    for c, m in mass.items():
        if c != char and m > 0 and c in _CAL_AT:
            base, inside, digit = _BASE[char][c]
            boost = ((m + calibration.MASS_EPS) / calibration.MASS_EPS) ** _W_MASS
            norm += base * factor[inside, digit] * (boost - 1.0)
    return _Position(char, norm, factor, mass)


@dataclass(frozen=True, slots=True)
class ReadEvidence:
    """What the recognizer said about one read, in the form the weighing needs: the plate, each
    character's confidence, the share of the candidates' probability on every reading and, per
    position, on every character; and, calibrated, how likely the read has its plate's length and
    each character's distribution."""

    text: str
    char_conf: tuple[float, ...]
    mass: dict[str, float]  # cleaned candidate text -> its share of the candidates' probability
    positions: tuple[dict[str, float], ...]  # per position of `text`: character -> share
    confidence: float = 0.0
    aligned: float = 1.0  # P(the plate has the read's length)
    chars: tuple[_Position, ...] = ()


def read_features(ev: ReadEvidence, confidence: float) -> list[float]:
    """What P(the plate has the read's length) is fitted on (the fit calls this too): bias, log mass
    of candidates of the read's length, doubt of the least sure character and of the read, short."""
    same = sum(v for t, v in ev.mass.items() if len(t) == len(ev.text))
    return [
        1.0,
        math.log(max(same, 1e-6)),
        _doubt(min(ev.char_conf, default=confidence)),
        _doubt(confidence),
        float(len(ev.text) <= 4),
        float(len(ev.text) <= 3),
    ]


def read_evidence(
    plate: str,
    confidence: float,
    candidates: Sequence[tuple[str, float]] = (),
    char_confidences: Sequence[float] = (),
) -> ReadEvidence:
    text = _clean_read_text(plate)
    ok = math.isfinite(confidence) and 0.0 <= confidence <= 1.0
    conf = confidence if ok else 0.0
    if char_confidences and len(char_confidences) == len(plate):
        kept = [float(q) for c, q in zip(plate.upper(), char_confidences, strict=True) if c in _READ_CHARS]
        chars = tuple(kept) if len(kept) == len(text) else (conf,) * len(text)
    else:
        chars = (conf,) * len(text)
    chars = tuple(q if math.isfinite(q) else 0.0 for q in chars)
    raw: dict[str, float] = {}
    for t, sc in candidates:
        cleaned = _clean_read_text(t)
        if cleaned and isinstance(sc, float | int) and math.isfinite(sc) and sc > 0:
            raw[cleaned] = raw.get(cleaned, 0.0) + float(sc)
    if text not in raw:
        raw[text] = max(raw.values(), default=1.0)
    total = sum(raw.values())
    mass = {t: v / total for t, v in raw.items()}
    same = {t: v for t, v in mass.items() if len(t) == len(text)}
    same_total = sum(same.values()) or 1.0
    positions = []
    for i in range(len(text)):
        at: dict[str, float] = {}
        for t, v in same.items():
            at[t[i]] = at.get(t[i], 0.0) + v / same_total
        positions.append(at)
    ev = ReadEvidence(text, chars, mass, tuple(positions), conf)
    z = sum(w * x for w, x in zip(calibration.LENGTH_WEIGHTS, read_features(ev, conf), strict=True))
    per_char = tuple(
        _position(c, q, at, k)
        for c, q, at, k in zip(text, chars, positions, neighbour_kinds(text), strict=True)
    )
    return replace(ev, aligned=_sigmoid(z), chars=per_char)


def _as_candidate(ev: ReadEvidence, entry: str) -> float:
    """P(the plate is `entry`) from its share of the candidates' mass alone (0 if not a candidate)."""
    share = ev.mass.get(entry, 0.0)
    if share <= 0:
        return 0.0
    top = ev.mass.get(ev.text, 0.0) or 1.0
    b, w_share, w_top = calibration.CANDIDATE_WEIGHTS
    return _sigmoid(b + w_share * math.log(max(share, 1e-9)) + w_top * math.log(max(share / top, 1e-9)))


def _edge_share(i: int, length: int, first: float, last: float) -> float:
    """The calibrated share of one-character edits at position `i` of a string of `length`."""
    if i == 0:
        return first
    if i == length - 1:
        return last
    return (1.0 - first - last) / max(1, length - 2)


def _indel_likelihood(ev: ReadEvidence, entry: str) -> float:
    """P(the plate is `entry`, one character longer or shorter than the read): the misread-length
    mass, times the calibrated share of reads that dropped (or added) one character, summed over
    where: that position's calibrated share (a dropped first character is the commonest) times the
    probabilities of the remaining characters being the entry's, position by position. A dropped
    character itself is any of the alphabet's."""
    drop, extra, drop_first, drop_last, extra_first, extra_last = calibration.INDEL
    text, n = ev.text, len(ev.text)
    total = 0.0
    if len(entry) == n + 1:
        for i in range(n + 1):
            rest = entry[:i] + entry[i + 1 :]
            value = _edge_share(i, n + 1, drop_first, drop_last) / _K
            for pos, c in zip(ev.chars, rest, strict=True):
                value *= pos.prob(c)
            total += value
        share = drop
    elif len(entry) == n - 1:
        for i in range(n):
            value = _edge_share(i, n, extra_first, extra_last)
            for pos, c in zip(ev.chars[:i] + ev.chars[i + 1 :], entry, strict=True):
                value *= pos.prob(c)
            total += value
        share = extra
    else:
        return 0.0
    return (1.0 - ev.aligned) * share * total if text else 0.0


def likelihood(ev: ReadEvidence, entry: str) -> tuple[float, tuple[int, ...]]:
    """P(the vehicle carries plate `entry` | the read), calibrated, and the positions where they
    differ: the read has the plate's length, times each character's probability of being the
    entry's (a confident character is taken as read, unless the recognizer is known to misread it
    so); an entry among the candidates counts at least with its calibrated share."""
    by_candidate = _as_candidate(ev, entry)
    if len(entry) != len(ev.text):
        if by_candidate > 0:
            return by_candidate, ()
        return _indel_likelihood(ev, entry), ()
    value = ev.aligned
    differs = []
    for i, (pos, b) in enumerate(zip(ev.chars, entry, strict=True)):
        value *= pos.prob(b)
        if ev.text[i] != b:
            differs.append(i)
    return min(1.0, max(by_candidate, value)), tuple(differs)


def _logit(p: float) -> float:
    p = min(1.0 - 1e-9, max(1e-9, p))
    return max(-PRIMARY_CLIP, min(PRIMARY_CLIP, math.log(p / (1.0 - p))))


def fusion_features(primary: float, second: float, second_entry: float, indel: bool) -> list[float]:
    """What the fusion is fitted on (the fit calls this too): the primary evidence's log-odds, the
    second model's log-odds of the entry over the read (clipped: it is overconfident), how likely
    it finds the entry at all (and whether the entry is its own reading, P > 1/2), whether it
    prefers the entry, and whether the entry has another length than the read."""
    entry = max(-SECOND_CLIP_ENTRY, min(0.0, second_entry))
    return [
        1.0,
        _logit(primary),
        max(-SECOND_CLIP, min(SECOND_CLIP, second)),
        entry,
        float(indel),
        float(second_entry > math.log(0.5)),
        float(second > 0),
        entry * entry / SECOND_CLIP_ENTRY,
    ]


def fuse(primary: float, second: float, second_entry: float, indel: bool = False) -> float:
    """P(the vehicle is the entry | the read's evidence, the second opinion), fitted (fusion.py)."""
    if fusion.WEIGHTS is None:
        return primary
    features = fusion_features(primary, second, second_entry, indel)
    return _sigmoid(sum(w * x for w, x in zip(fusion.WEIGHTS, features, strict=True)))


def second_opinion(
    matches: Sequence[Match], ev: ReadEvidence, ask: SecondScorer | None
) -> dict[str, tuple[float, float]]:
    """(log P2(entry) - log P2(read), log P2(entry)) of each match that is not the read's own plate
    and has primary evidence of at least VERIFY_MIN, from one question to the second opinion (one
    inference for the read); empty when none needs it or it cannot say."""
    doubted = sorted(
        {m.entry for m in matches if m.kind != "partial" and m.entry != ev.text and m.primary >= VERIFY_MIN}
    )
    if ask is None or not doubted or not ev.text:
        return {}
    answer = ask([ev.text, *doubted])
    if answer is None or len(answer) != len(doubted) + 1:
        return {}
    read_lp = _held(answer[0])
    out = {}
    for entry, lp in zip(doubted, answer[1:], strict=True):
        out[entry] = (_held(lp) - read_lp, _held(lp))
    return out


def _held(lp: float) -> float:
    """A log-probability as the fusion takes it: a text the second model cannot hold (too long,
    -inf) or a broken answer (NaN) counts as the least likely text it could hold."""
    return max(UNHELD, lp) if not math.isnan(lp) else UNHELD


def frame_evidence(
    frames: Sequence[ReadEvidence], entries: Sequence[str], read: str
) -> list[dict[str, float]]:
    """Per frame, each entry's evidence from that frame's reading alone, among the same hypotheses
    as one read's (the entries, the plate as this frame and as the vote read it unless listed, and
    a misread length): what `pass_evidence.combine` weighs together."""
    out = []
    listed = set(entries)
    for f in frames:
        like = {e: likelihood(f, e)[0] for e in entries}
        unlisted = {f.text, read} - listed
        total = sum(like.values()) + sum(likelihood(f, t)[0] for t in unlisted if t) + (1.0 - f.aligned)
        out.append({e: v / total if total > 0 else 0.0 for e, v in like.items()})
    return out


def weigh(
    matches: Sequence[Match],
    ev: ReadEvidence,
    lists: dict[str, ListSettings],
    second: SecondScorer | None = None,
    frames: Sequence[ReadEvidence] = (),
) -> list[Match]:
    """Each match with its evidence and tier.

    The evidence is the chance the vehicle is the entry among the hypotheses the read leaves open:
    the plate as read (unless it is itself listed), every listed plate it fuzzily fits, each by its
    calibrated probability, and a misread of the plate's length (which no same-length entry
    explains). A read that fits many entries is therefore weak evidence for any one of them, and a
    garbled read (short, unsure, of a doubtful length) for all. Partial patterns keep their
    structural score (a witness's pattern is judged by how much it pins down).

    With `second` (the read's crop under an independent recognizer), a match that is not the read's
    own plate is checked: the crop's support for the entry over the read, fused with the read's
    own evidence (`fuse`), is the evidence the tiers go by. An innocent vehicle's crop supports
    the read; a misread listed plate's crop often supports the entry.

    With `frames` (a pass's frames' own readings, `ev` being their vote), each frame weighs each
    entry on its own and the frames' evidence is combined with the vote's (`pass_evidence`), so
    frames that agree count as more evidence than one.
    """
    plates = {m.entry: likelihood(ev, m.entry) for m in matches if m.kind != "partial"}
    self_weight = 0.0 if ev.text in plates else likelihood(ev, ev.text)[0]
    total = self_weight + sum(v for v, _ in plates.values()) + (1.0 - ev.aligned)
    by_frame = (
        frame_evidence(frames, list(plates), ev.text)
        if plates and len(frames) >= pass_evidence.MIN_FRAMES and pass_weights.WEIGHTS is not None
        else []
    )
    weighed: list[tuple[Match, float, tuple[int, ...]]] = []
    for m in matches:
        differs: tuple[int, ...] = ()
        if m.kind == "partial":
            evidence = m.score
        else:
            value, differs = plates[m.entry]
            evidence = value / total if total > 0 else 0.0
            if by_frame:
                per = tuple(f[m.entry] for f in by_frame)
                m = replace(m, single=round(evidence, 6), per_frame=tuple(round(e, 6) for e in per))
                evidence = pass_evidence.combine(evidence, per)
        weighed.append((m, min(1.0, evidence), differs))
    opinions = (
        second_opinion([replace(m, primary=p) for m, p, _ in weighed], ev, second)
        if second is not None
        else {}
    )
    out = []
    for m, primary, differs in weighed:
        evidence = primary
        said = opinions.get(m.entry) if m.kind != "partial" else None
        if said is not None:
            evidence = fuse(primary, *said, len(m.entry) != len(ev.text))
            m = replace(m, second=round(said[0], 3), second_entry=round(said[1], 3))
        evidence = round(min(1.0, evidence), 6)
        settings = lists.get(m.list_name)
        alert_t = settings.alert_threshold if settings else ALERT_THRESHOLD
        possible_t = settings.possible_threshold if settings else POSSIBLE_THRESHOLD
        tier = "alert" if evidence >= alert_t else "possible" if evidence >= possible_t else ""
        out.append(replace(m, evidence=evidence, tier=tier, primary=round(primary, 6), differs=differs))
    out.sort(key=lambda m: (m.tier != "alert", m.tier != "possible", m.priority, -m.evidence, m.key))
    return out


def doubted_lookups(ev: ReadEvidence, have: Sequence[LookupText]) -> list[LookupText]:
    """Texts that let the read's own doubt find an entry the confusion rules would not.

    The confusion classes say which substitutions are *common*; the calibration says how likely
    each is for this read. A position whose calibrated chance of being misread is at least
    `DOUBT_SUB` becomes `?` (any character there, at any confidence the calibration allows; a
    confident character never moves), and a read whose length is doubted by at least `DOUBT_LENGTH`
    gets a `?` inserted at every position (a dropped character). These only *find* entries: each is
    then weighed by its calibrated likelihood like any other, so they raise recall only where the
    evidence carries it. Each is weighted by the doubt that admits it, so the match's score says
    how far the read itself allows the edit.
    """
    text = ev.text
    if not text or UNKNOWN in text or not ev.chars:
        return []
    seen = {lookup.text for lookup in have}
    out: list[LookupText] = []

    def add(variant: str, weight: float) -> None:
        if variant not in seen and len(variant) <= MAX_PLATE:
            seen.add(variant)
            out.append(LookupText(variant, round(min(1.0, weight), 4)))

    doubt = sorted(((1.0 - pos.prob(text[i]), i) for i, pos in enumerate(ev.chars)), reverse=True)
    for value, i in doubt[:MAX_DOUBTED]:
        if value < DOUBT_SUB:
            break
        add(text[:i] + UNKNOWN + text[i + 1 :], value)
    if 1.0 - ev.aligned >= DOUBT_LENGTH and len(text) >= MIN_INSERT_LEN:
        for i in range(len(text) + 1):
            add(text[:i] + UNKNOWN + text[i:], 1.0 - ev.aligned)
    return out


def match_read_text(
    index: HotlistIndex,
    plate: str,
    confidence: float,
    candidates: Sequence[tuple[str, float]] = (),
    char_confidences: Sequence[float] = (),
    second: SecondScorer | None = None,
    frames: Sequence[FrameReading] = (),
) -> list[Match]:
    """A read's matches, weighed by its evidence (what the match agent and the alerts bench use);
    `second` asks the second opinion about the doubtful ones, `frames` (a pass's frames' own
    readings) are weighed together with the vote (`weigh`)."""
    lookups = lookup_texts(plate, confidence, candidates, char_confidences)
    ev = read_evidence(plate, confidence, candidates, char_confidences)
    if index.any_fuzzy:
        lookups += doubted_lookups(ev, lookups)
    matches = match_texts(index, lookups)
    if not matches:
        return matches
    # The frames' evidence only where their weighing is on: off (the default), a read's frames
    # would cost every match their evidence and change nothing.
    seen = (
        [
            read_evidence(text, q, cands, chars)
            for text, q, chars, cands in frames[:MAX_FRAMES]
            if _clean_read_text(text)
        ]
        if pass_weights.WEIGHTS is not None
        else []
    )
    return weigh(matches, ev, index.lists, second, seen)


def match_plate(index: HotlistIndex, plate: str, candidates: Sequence[tuple[str, float]] = ()) -> list[Match]:
    """Convenience for the CLI and tests: match a plate text (and alternatives) as a read would be."""
    return match_texts(index, lookup_texts(plate, 1.0, candidates))


__all__ = [
    "LookupText",
    "Match",
    "ReadEvidence",
    "clean_plate",
    "doubted_lookups",
    "frame_evidence",
    "fuse",
    "fusion_features",
    "judge_pattern",
    "judge_plate",
    "likelihood",
    "lookup_texts",
    "match_plate",
    "match_read_text",
    "match_texts",
    "neighbour_kinds",
    "read_evidence",
    "read_features",
    "score",
    "second_opinion",
    "weigh",
]
