"""Per-region plate formats, and choosing the best OCR candidate that fits them.

Why scored and not rewritten: the recognizer's top-k candidates already carry the alternatives a
human would consider (`8` vs `B`, `0` vs `O`).  A format is a *prior* on those candidates: the
chosen reading maximises `candidate score x format prior`, so a confident reading that matches no
known format still wins over a far less likely one that does, and no text is invented that the
network did not support.  The only rewriting is for Brazil, where the format is strict (letters and
digits by position) and a letter/digit confusion at a fixed position is mapped to its look-alike,
with a penalty per mapped character.

Stable API used by the pipeline:

    REGIONS                          # ("us", "eu", "br", "auto")
    format_prior(text, region)       # 0..1, how plausible `text` is as a plate of `region`
    matching_formats(text, region)   # names of the formats `text` fits
    choose(result, region)           # OcrResult re-ranked: best candidate under the region's formats
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from platewatch.engine.config.choices import REGIONS
from platewatch.engine.vision.types import Candidate, OcrResult


@dataclass(frozen=True, slots=True)
class PlateFormat:
    """A registration format: `pattern` over A-Z0-9 (no separators) and its prior weight."""

    name: str
    pattern: re.Pattern[str]
    prior: float


def _f(name: str, regex: str, prior: float) -> PlateFormat:
    return PlateFormat(name, re.compile(rf"^{regex}$"), prior)


L, N, X = "[A-Z]", "[0-9]", "[A-Z0-9]"

# US: the common state serial formats get full weight; any 2-8 character vanity plate stays
# possible with a lower prior (vanity and special plates are real, just rarer).
US_FORMATS: Final = (
    _f("us_california", f"{N}{L}{{3}}{N}{{3}}", 1.0),  # 1ABC234
    _f("us_LLLNNNN", f"{L}{{3}}{N}{{4}}", 1.0),  # ABC1234 (TX, NY, PA, ...)
    _f("us_LLLNNN", f"{L}{{3}}{N}{{3}}", 1.0),
    _f("us_NNNLLL", f"{N}{{3}}{L}{{3}}", 1.0),
    _f("us_mixed_6_7", f"(?=.*{N})(?=.*{L}){X}{{6,7}}", 0.8),  # 6-7 chars mixing letters and digits
    _f("us_digits", f"{N}{{5,7}}", 0.6),
    _f("us_mixed_5", f"(?=.*{N}){X}{{5}}", 0.6),
    _f("us_vanity", f"{X}{{2,8}}", 0.3),
)

EU_FORMATS: Final = (
    _f("eu_it_fr", f"{L}{{2}}{N}{{3}}{L}{{2}}", 1.0),  # AB123CD
    _f("eu_de", f"{L}{{1,3}}{L}{{1,2}}{N}{{1,4}}", 0.9),  # B-MW 1234 -> BMW1234
    _f("eu_es", f"{N}{{4}}{L}{{3}}", 1.0),  # 1234BCD
    _f("eu_uk", f"{L}{{2}}{N}{{2}}{L}{{3}}", 1.0),  # AB12CDE
    _f("eu_pl", f"{L}{{2,3}}{X}{{4,5}}", 0.8),
    _f("eu_nl", f"(?=.*{N})(?=.*{L}){X}{{6}}", 0.8),
    _f("eu_generic", f"{X}{{4,8}}", 0.3),
)

BR_FORMATS: Final = (
    _f("br_old", f"{L}{{3}}{N}{{4}}", 1.0),  # ABC1234 (ABC-1234 on the plate)
    _f("br_mercosur", f"{L}{{3}}{N}{L}{N}{{2}}", 1.0),  # ABC1D23
)

FORMATS: Final = {"us": US_FORMATS, "eu": EU_FORMATS, "br": BR_FORMATS}

# Look-alikes the recognizer confuses, used only to coerce Brazilian candidates by position.
TO_LETTER: Final = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B"}
TO_DIGIT: Final = {v: k for k, v in TO_LETTER.items()} | {"D": "0", "Q": "0", "U": "0", "J": "1", "L": "1"}
# Templates per position: L = letter, N = digit.
BR_TEMPLATES: Final = ("LLLNNNN", "LLLNLNN")
# Characters rare on plates of a region, as a per-occurrence prior multiplier.  US serials mostly
# avoid the letter O (openalpr US labels: 16 O vs 348 zeros) and, less strictly, I and Q, and on
# many US plates O and 0 are the same glyph: when the network hesitates, the digit is likelier.
RARE_CHARS: Final = {"us": {"O": 0.4, "Q": 0.7, "I": 0.7}}
MAP_PENALTY: Final = 0.35  # prior multiplier per coerced character
UNKNOWN_PRIOR: Final = 0.05  # text that fits no format of the region (still selectable if confident)


def _formats(region: str) -> tuple[PlateFormat, ...]:
    if region == "auto":
        return US_FORMATS + EU_FORMATS + BR_FORMATS
    try:
        return FORMATS[region]
    except KeyError:
        raise ValueError(f"unknown region {region!r}; expected one of {REGIONS}") from None


def matching_formats(text: str, region: str) -> list[str]:
    """Names of the formats of `region` that `text` (A-Z0-9, no separators) fits."""
    return [f.name for f in _formats(region) if f.pattern.match(text)]


def format_prior(text: str, region: str) -> float:
    """Plausibility of `text` as a plate of `region`: the best matching format's prior.

    Returns `UNKNOWN_PRIOR` for text fitting no format (not zero: a plate format we do not know is
    still a plate), and 0 for empty text.
    """
    if not text:
        return 0.0
    prior = max((f.prior for f in _formats(region) if f.pattern.match(text)), default=UNKNOWN_PRIOR)
    for ch, mult in RARE_CHARS.get(region, {}).items():
        prior *= mult ** text.count(ch)
    return prior


def coerce_br(text: str) -> list[tuple[str, int]]:
    """Brazilian readings of `text` obtained by mapping look-alikes by position.

    Returns (text, number of mapped characters) for each template the text can be coerced to.
    """
    out: list[tuple[str, int]] = []
    if len(text) != 7:
        return out
    for tpl in BR_TEMPLATES:
        chars: list[str] = []
        mapped = 0
        for ch, kind in zip(text, tpl, strict=True):
            if (kind == "L" and "A" <= ch <= "Z") or (kind == "N" and "0" <= ch <= "9"):
                chars.append(ch)
                continue
            table = TO_LETTER if kind == "L" else TO_DIGIT
            if ch not in table:
                break
            chars.append(table[ch])
            mapped += 1
        else:
            out.append(("".join(chars), mapped))
    return out


def choose(result: OcrResult, region: str, max_mapped: int = 2) -> OcrResult:
    """Re-rank `result.candidates` by `score x format_prior(text, region)` and return a new result.

    For `br` (and `auto`, for 7-character readings) candidates are also coerced to the Brazilian
    templates by look-alike mapping, each mapped character costing `MAP_PENALTY`, at most
    `max_mapped` characters.  The returned `text`/`confidence` are the winner's; its per-character
    confidences are the recognizer's where the winner agrees with the best path, else the winner's
    geometric-mean character probability.  Candidate scores stay the recognizer's probabilities
    (re-ranked, not rescaled) so downstream stages can still compare them.
    """
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; expected one of {REGIONS}")
    cands = list(result.candidates) or ([Candidate(result.text, result.confidence)] if result.text else [])
    if not cands:
        return result
    scored: dict[str, tuple[float, float]] = {}  # text -> (combined, recognizer score)

    def offer(text: str, score: float, prior: float) -> None:
        comb = score * prior
        if text not in scored or comb > scored[text][0]:
            scored[text] = (comb, score)

    for c in cands:
        offer(c.text, c.score, format_prior(c.text, region))
        if region in ("br", "auto"):
            for text, mapped in coerce_br(c.text):
                if 0 < mapped <= max_mapped:
                    offer(text, c.score, format_prior(text, "br") * MAP_PENALTY**mapped)
    ranked = sorted(scored.items(), key=lambda kv: kv[1][0], reverse=True)
    best_text = ranked[0][0]
    if best_text == result.text:
        confs = result.char_confidences
    else:
        score = scored[best_text][1]
        fallback = score ** (1.0 / max(1, len(best_text)))
        confs = tuple(
            result.char_confidences[i]
            if i < len(result.text) and i < len(result.char_confidences) and result.text[i] == ch
            else fallback
            for i, ch in enumerate(best_text)
        )
    return OcrResult(
        text=best_text,
        confidence=float(min(confs)) if confs else 0.0,
        char_confidences=tuple(float(c) for c in confs),
        candidates=tuple(Candidate(t, s) for t, (_, s) in ranked[: max(len(cands), 1)]),
    )
