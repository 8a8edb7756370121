"""Two-row plates read with the shipped recognizer (models/plate_ocr.xml): fixed-seed synthetic
plates, not degraded by the camera simulation, so that the figures are stable and tell the
reading apart from the camera noise (`docs/measuring.md` has the degraded figures).

Clean stacked US plates (two rows, or small stacked characters beside the registration): the
one-line reading reads 14 of seeds 0-59 exactly, with the two-row readings 36. One-row US plates
(seeds 0-39) read the same with and without."""

from __future__ import annotations

import numpy as np
import pytest

from platewatch.engine.vision import regions
from platewatch.engine.vision.ocr import DEFAULT_MODEL, PlateOCR
from platewatch.engine.vision.stacked import read_stacked
from platewatch.models.training import synth

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="models/plate_ocr.xml not built")


@pytest.fixture(scope="module")
def ocr() -> PlateOCR:
    return PlateOCR()


def _reads(ocr: PlateOCR, style: str, seeds: range) -> list[tuple[str, str, str]]:
    """(truth, one-line reading, reading with the two-row readings) for each seed's plate."""
    out = []
    for seed in seeds:
        crop, text = synth.synth_sample(np.random.default_rng(seed), style=style, degrade=False)
        one = regions.choose(ocr.read(crop), "us")
        out.append((text, one.text, read_stacked(ocr, crop, one, lambda r: regions.choose(r, "us"), 8).text))
    return out


def test_stacked_plates_read_better_with_their_rows_reflowed(ocr: PlateOCR) -> None:
    reads = _reads(ocr, "us_stacked", range(60))
    one_line = sum(truth == one for truth, one, _ in reads)
    stacked = sum(truth == two for truth, _, two in reads)
    assert one_line <= 20 and stacked >= 30, (one_line, stacked)
    # what the one-line reading read right stays right
    assert all(two == truth for truth, one, two in reads if one == truth)


def test_one_row_plates_read_the_same(ocr: PlateOCR) -> None:
    reads = _reads(ocr, "us", range(40))
    assert [one for _, one, _ in reads] == [two for _, _, two in reads]
