"""Region formats and candidate selection (no model needed)."""

from __future__ import annotations

import pytest

from platewatch.engine.vision.regions import (
    REGIONS,
    UNKNOWN_PRIOR,
    choose,
    coerce_br,
    format_prior,
    matching_formats,
)
from platewatch.engine.vision.types import Candidate, OcrResult


def result(*cands: tuple[str, float]) -> OcrResult:
    text = cands[0][0]
    return OcrResult(
        text=text,
        confidence=0.9,
        char_confidences=tuple(0.9 for _ in text),
        candidates=tuple(Candidate(t, s) for t, s in cands),
    )


@pytest.mark.parametrize(
    ("text", "region", "name"),
    [
        ("7ABC123", "us", "us_california"),
        ("ABC1234", "us", "us_LLLNNNN"),
        ("ABC1234", "br", "br_old"),
        ("ABC1D23", "br", "br_mercosur"),
        ("AB123CD", "eu", "eu_it_fr"),
        ("BMW1234", "eu", "eu_de"),
        ("1234BCD", "eu", "eu_es"),
    ],
)
def test_formats_match(text: str, region: str, name: str) -> None:
    assert name in matching_formats(text, region)
    assert format_prior(text, region) == pytest.approx(1.0, abs=0.11)


def test_priors_rank_common_formats_above_vanity_and_unknown() -> None:
    assert format_prior("7ABC123", "us") > format_prior("GWAGEN", "us") > format_prior("ABCDEFGHJK", "us")
    assert format_prior("ABCDEFGHJK", "us") == UNKNOWN_PRIOR
    assert format_prior("ABC12345", "br") == UNKNOWN_PRIOR
    assert format_prior("", "us") == 0.0
    assert format_prior("ABC1D23", "auto") == 1.0


def test_unknown_region_raises() -> None:
    with pytest.raises(ValueError):
        format_prior("ABC123", "mars")
    with pytest.raises(ValueError):
        choose(result(("ABC123", 0.5)), "mars")
    assert set(REGIONS) == {"us", "eu", "br", "auto"}


def test_choose_prefers_format_when_scores_are_close() -> None:
    # State name letters appended ("7ABC123N") vs the clean California reading.
    r = choose(result(("7ABC123N", 0.40), ("7ABC123", 0.35)), "us")
    assert r.text == "7ABC123"
    assert r.candidates[0].text == "7ABC123"
    assert r.candidates[0].score == pytest.approx(0.35)  # recognizer score kept, only re-ranked
    assert len(r.char_confidences) == len(r.text)


def test_choose_keeps_confident_reading_that_fits_no_common_format() -> None:
    r = choose(result(("BUKTLST", 0.9), ("BUKTL5T", 0.05)), "us")
    assert r.text == "BUKTLST"
    assert r.char_confidences == (0.9,) * 7


def test_choose_eu_and_auto() -> None:
    assert choose(result(("AB123CDE", 0.3), ("AB123CD", 0.25)), "eu").text == "AB123CD"
    assert choose(result(("ABC1D23", 0.5), ("A8C1D23", 0.4)), "auto").text == "ABC1D23"


def test_coerce_br_maps_by_position() -> None:
    assert ("ABC1234", 1) in coerce_br("A8C1234")
    assert ("ABC1O23", 1) in coerce_br("ABC1023")  # 0 -> O at the Mercosur letter position...
    assert ("ABC1023", 0) in coerce_br("ABC1023")  # ...and it already fits the old format as is
    assert coerce_br("ABC123") == []
    assert coerce_br("ABC12#4") == []


def test_choose_br_coerces_confusables_with_penalty() -> None:
    # The only candidate has a digit at a letter position: mapped to its look-alike.
    r = choose(result(("A8C1234", 0.8)), "br")
    assert r.text == "ABC1234"
    # A candidate that fits as read beats a coerced one of similar score.
    r = choose(result(("A8C1234", 0.5), ("ABC1234", 0.4)), "br")
    assert r.text == "ABC1234"
    assert r.candidates[0].score == pytest.approx(0.4)
    # Too many mappings: not coerced, the reading stands.
    assert choose(result(("0000000", 0.8)), "br").text == "0000000"


def test_choose_empty_result_is_returned_as_is() -> None:
    empty = OcrResult(text="", confidence=0.0, char_confidences=(), candidates=())
    assert choose(empty, "us") == empty


def test_us_prefers_digit_zero_over_letter_o_when_hesitant() -> None:
    # O and 0 are often the same glyph on US plates, and O is rare in US serials.
    assert choose(result(("ABO123", 0.45), ("AB0123", 0.40)), "us").text == "AB0123"
    # ...but a confident O stands.
    assert choose(result(("ABO123", 0.80), ("AB0123", 0.10)), "us").text == "ABO123"
    # Other regions are not affected.
    assert format_prior("AB0123", "eu") == format_prior("ABO123", "eu")
