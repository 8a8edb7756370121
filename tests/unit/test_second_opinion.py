"""The second opinion: fast-plate-ocr's recognizer scores any text on a crop, and the matcher fuses
its verdict into a doubtful match's evidence (an innocent vehicle's crop supports the read, a
misread listed plate's crop the entry)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from platewatch.codecs import Read
from platewatch.engine.alerts.build import build_alert, second_verdict
from platewatch.engine.alerts.matching import crop_scorer, match_read
from platewatch.engine.hotlist import HotlistIndex, ListSettings, fusion
from platewatch.engine.hotlist.matcher import VERIFY_MIN, fuse, match_read_text
from platewatch.engine.vision.second_opinion import (
    ALPHABET,
    SLOTS,
    SecondOpinion,
    best_text,
    slot_indices,
    text_log_prob,
)

SURE = (0.99,) * 7
#: fitted-looking weights: the primary evidence's log-odds plus the crop's (clipped) log-odds
WEIGHTS = (0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _index(*plates: str) -> HotlistIndex:
    index = HotlistIndex({"stolen": ListSettings("stolen")}, "pw:hot")
    index.build(["stolen"] * len(plates), list(plates), [b"reason\x1fx"] * len(plates))
    return index


def _peaked(text: str, p: float = 0.9) -> np.ndarray:
    """Per-slot log-probabilities of a model that reads `text` at `p` per slot."""
    lp = np.full((SLOTS, len(ALPHABET)), math.log((1 - p) / (len(ALPHABET) - 1)))
    for slot, i in enumerate(slot_indices(text) or []):
        lp[slot, i] = math.log(p)
    return lp


class _Asked:
    """A second opinion that answers from fixed log-probabilities and counts the questions."""

    def __init__(self, reads: str) -> None:
        self.lp = _peaked(reads)
        self.questions: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> list[float]:
        self.questions.append(list(texts))
        return [text_log_prob(self.lp, t) for t in texts]


def test_any_text_is_scored_slot_by_slot_with_padding() -> None:
    lp = _peaked("7ABC123")
    assert best_text(lp) == "7ABC123"
    assert slot_indices("7ABC123") is not None and slot_indices("TOOLONGTEXT") is None
    assert slot_indices("AB-1") is None
    assert text_log_prob(lp, "7ABC123") > text_log_prob(lp, "7A8C123") > text_log_prob(lp, "7A8C12")
    assert text_log_prob(lp, "ABCDEFGHIJ") == float("-inf")


@pytest.fixture
def weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fusion, "WEIGHTS", WEIGHTS)


@pytest.mark.usefixtures("weights")
def test_the_crop_decides_a_doubtful_match() -> None:
    index = _index("7ABC123")
    read = ("7A8C123", 0.6, [("7A8C123", 0.5), ("7ABC123", 0.3)], (0.99, 0.99, 0.6, 0.99, 0.99, 0.99, 0.99))
    alone = match_read_text(index, *read)[0]
    innocent = _Asked("7A8C123")  # the crop shows what was read
    misread = _Asked("7ABC123")  # the crop shows the listed plate
    against = match_read_text(index, *read, second=innocent)[0]
    for_ = match_read_text(index, *read, second=misread)[0]
    assert alone.second is None and alone.primary == alone.evidence >= VERIFY_MIN
    assert against.second is not None and against.second < 0 and against.evidence < alone.evidence
    assert for_.second is not None and for_.second > 0 and for_.evidence > alone.evidence
    assert against.tier in ("", "possible") and for_.tier == "alert"
    # one question per read: the read's plate and the doubtful entries together
    assert innocent.questions == [["7A8C123", "7ABC123"]]


@pytest.mark.usefixtures("weights")
def test_a_read_of_the_entry_itself_is_not_questioned() -> None:
    asked = _Asked("7A8C123")
    exact = match_read_text(_index("7ABC123"), "7ABC123", 0.95, [("7ABC123", 0.95)], SURE, asked)
    assert exact[0].kind == "exact" and exact[0].second is None and not asked.questions


@pytest.mark.usefixtures("weights")
def test_no_answer_leaves_the_read_own_evidence() -> None:
    index = _index("7ABC123")
    args = ("7A8C123", 0.6, [("7A8C123", 0.5), ("7ABC123", 0.3)], (0.99, 0.99, 0.6, 0.99, 0.99, 0.99, 0.99))
    silent = match_read_text(index, *args, second=lambda texts: None)[0]
    assert silent.second is None and silent.evidence == silent.primary


def test_unfitted_fusion_keeps_the_primary_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fusion, "WEIGHTS", None)
    assert fuse(0.03, 5.0, -1.0) == 0.03
    monkeypatch.setattr(fusion, "WEIGHTS", WEIGHTS)
    assert fuse(0.03, 5.0, -1.0) > 0.5 > fuse(0.03, -5.0, -20.0)


def test_the_alert_says_what_the_second_opinion_found() -> None:
    assert second_verdict(3.0) == "supports entry"
    assert second_verdict(-3.0) == "supports read"
    assert second_verdict(0.2) == "undecided"


@pytest.fixture(scope="module")
def opinion() -> SecondOpinion:
    return SecondOpinion.load()


def _rendered(count: int) -> list[tuple[np.ndarray, str]]:
    from platewatch.models.training.synth import synth_sample

    rng = np.random.default_rng(7)
    return [synth_sample(rng, style="us", degrade=False) for _ in range(count)]


def test_the_shipped_model_reads_and_scores_plates(opinion: SecondOpinion) -> None:
    plates = _rendered(24)
    reads = opinion.read([crop for crop, _ in plates])
    # fast-plate-ocr's preprocessing (RGB, 128x64): most clean renders read exactly
    assert sum(r == t for r, (_, t) in zip(reads, plates, strict=True)) >= 16
    crop, text = plates[0]
    wrong = ("0" if text[0] != "0" else "1") + text[1:]
    _, jpeg = cv2.imencode(".jpg", crop)
    scores = opinion.score_jpeg(jpeg.tobytes(), [text, wrong])
    assert scores is not None and scores[0] > scores[1]
    assert opinion.score_jpeg(b"not a jpeg", [text]) is None


@pytest.mark.usefixtures("weights")
def test_the_match_stage_asks_about_the_read_crop(opinion: SecondOpinion) -> None:
    # a plate the model reads right, with a character of a confusion class
    crop, text = next(
        (c, t) for c, t in _rendered(30) if opinion.read([c]) == [t] and any(x in "0B8OS5" for x in t)
    )
    i = next(i for i, c in enumerate(text) if c in "0B8OS5")
    swap = {"0": "O", "O": "0", "B": "8", "8": "B", "S": "5", "5": "S"}[text[i]]
    listed = text[:i] + swap + text[i + 1 :]  # one confusion away from the vehicle's real plate
    _, jpeg = cv2.imencode(".jpg", crop)
    conf = tuple(0.99 if j != i else 0.55 for j in range(len(text)))
    read = Read(
        read_id="r1",
        camera_id="cam",
        time=0.0,
        plate=text,
        confidence=0.55,
        char_confidences=conf,
        candidates=((text, 0.55), (listed, 0.4)),
        crop_jpeg=jpeg.tobytes(),
    )
    index = _index(listed)
    spent: list[float] = []
    assert crop_scorer(read, None, spent) is None
    assert (
        crop_scorer(Read(read_id="r2", camera_id="cam", time=0.0, plate=text, confidence=0.5), opinion, spent)
        is None
    )
    [match] = match_read(index, read, opinion)
    assert match.second is not None and match.second < 0  # the crop supports what was read
    assert match.evidence < match.primary
    alert = build_alert(read, match, 1.0)
    assert alert.extra["second_opinion"] == "supports read"
