"""Fusing several crops' readings of one plate, and the neighbourhood the refiner re-detects."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platewatch.engine.vision.types import Box, Candidate, OcrResult
from platewatch.engine.vision.views import FUSION_FLOOR, REFINE_CONTEXT, fuse_views, neighbourhood, tiles


def _result(*cands: tuple[str, float]) -> OcrResult:
    text = cands[0][0] if cands else ""
    conf = cands[0][1] if cands else 0.0
    return OcrResult(text, conf, (conf,) * len(text), tuple(Candidate(t, s) for t, s in cands))


def test_the_text_the_crops_agree_on_wins_over_one_confident_crop() -> None:
    views = [
        _result(("A8A", 0.9), ("AYX8803", 0.005)),  # the widest crop reads the state name, sure of it
        _result(("AYX8803", 0.4), ("AYY8803", 0.3)),
        _result(("AYX8803", 0.3), ("A8A", 0.001)),
    ]
    fused = fuse_views(views)
    assert fused.text == "AYX8803"
    floor = FUSION_FLOOR
    assert fused.candidates[0] == Candidate("AYX8803", pytest.approx((floor * 0.4 * 0.3) ** (1 / 3)))
    assert dict((c.text, c.score) for c in fused.candidates)["A8A"] == pytest.approx(
        (0.9 * floor * floor) ** (1 / 3)
    )
    # Per-character confidences come from the crop that read the winner most confidently.
    assert fused.char_confidences == views[1].char_confidences
    assert fused.confidence == pytest.approx(0.4)
    assert [c.score for c in fused.candidates] == sorted((c.score for c in fused.candidates), reverse=True)


def test_a_winner_no_crop_read_first_gets_its_fused_probability_per_character() -> None:
    fused = fuse_views([_result(("AB1", 0.4), ("AB7", 0.35)), _result(("AB4", 0.4), ("AB7", 0.35))])
    assert fused.text == "AB7"
    assert fused.char_confidences == pytest.approx((0.35 ** (1 / 3),) * 3)


def test_one_view_is_returned_as_it_is_and_none_reads_nothing() -> None:
    only = _result(("ABC123", 0.8))
    assert fuse_views([only]) is only
    assert fuse_views([]).text == ""
    assert fuse_views([_result(), _result()]).text == ""


@given(
    x=st.integers(0, 1900),
    y=st.integers(0, 1060),
    w=st.integers(1, 600),
    h=st.integers(1, 300),
)
def test_neighbourhood_is_around_the_box_and_inside_the_frame(x: int, y: int, w: int, h: int) -> None:
    width, height = 1920, 1080
    x0, y0, x1, y1 = neighbourhood(Box(x, y, w, h), width, height)
    assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
    cx, cy = x + w / 2, y + h / 2
    if x1 > x0 and y1 > y0 and cx < width and cy < height:
        assert x0 <= cx <= x1 and y0 <= cy <= y1
    side = max(w * REFINE_CONTEXT[0], h * REFINE_CONTEXT[1])
    assert x1 - x0 <= side + 1 and y1 - y0 <= side / 2 + 1


@given(width=st.integers(16, 4000), height=st.integers(16, 3000), data=st.data())
def test_tiles_are_half_size_and_hold_every_box_a_quarter_of_the_frame_whole(
    width: int, height: int, data: st.DataObject
) -> None:
    regions = tiles(width, height)
    assert 1 <= len(regions) <= 9
    for x0, y0, x1, y1 in regions:
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert x1 - x0 == -(-width // 2) and y1 - y0 == -(-height // 2)
    w = data.draw(st.integers(1, width // 4 or 1))
    h = data.draw(st.integers(1, height // 4 or 1))
    x = data.draw(st.integers(0, width - w))
    y = data.draw(st.integers(0, height - h))
    assert any(x0 <= x and x + w <= x1 and y0 <= y and y + h <= y1 for x0, y0, x1, y1 in regions)
