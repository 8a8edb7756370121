"""The plate's issuing state: read from the name printed on it, its formats choosing among the
recognizer's candidates, recorded on the pass's final read (engine/vision/plate_state.py,
plate_formats.py, us_states.py, engine/track/state.py)."""

from __future__ import annotations

import cv2
import msgpack
import numpy as np
import pytest

from platewatch.codecs import Read, decode_read, encode_read
from platewatch.engine.track.confirm import ConfirmingTracker
from platewatch.engine.track.state import with_state
from platewatch.engine.vision.plate_formats import choose_by_state
from platewatch.engine.vision.plate_state import StateReader, ctc_scores, fuzzy_state, greedy_text
from platewatch.engine.vision.types import Box, Candidate, Image, Observation
from platewatch.engine.vision.us_states import STATE_FORMATS, STATE_NAMES, fits_state


def test_fuzzy_state_names_misread_names_and_prefers_the_longer_name() -> None:
    assert fuzzy_state("TEXNS")[1] == "TX"
    assert fuzzy_state("xARIZONAE")[1] == "AZ"
    assert fuzzy_state("WASHINGTONDC") == (1.0, "DC")  # not WA, whose name it contains
    assert fuzzy_state("WASHINGTON") == (1.0, "WA")
    assert fuzzy_state("ab") == (0.0, "")
    assert fuzzy_state("QZXVQ")[0] < 0.75


def test_greedy_text_merges_repeats_and_drops_blanks() -> None:
    alphabet = "ABT"
    path = [3, 3, 0, 1, 0, 1, 2, 2]  # T T - A - A B B
    lp = np.log(np.full((len(path), 4), 0.01))
    lp[np.arange(len(path)), path] = np.log(0.97)
    assert greedy_text(lp, alphabet) == "TAAB"


def test_ctc_scores_prefer_the_spelling_the_band_shows_anywhere_in_it() -> None:
    # frames: junk, then T E X A S, then junk; letters 1..5 = T E X A S, 6 = O
    path = [6, 6, 1, 2, 3, 4, 5, 6]
    lp = np.log(np.full((len(path), 7), 0.02))
    lp[np.arange(len(path)), path] = np.log(0.88)
    texas, other = ctc_scores(lp, [[1, 2, 3, 4, 5], [1, 6, 6, 4, 5]])
    assert texas > -0.5 and texas > other + 1.0


def test_formats_and_names_cover_every_state_code_consistently() -> None:
    assert len(STATE_NAMES) == 51 and set(STATE_FORMATS) <= set(STATE_NAMES)
    assert fits_state("7ABC123", "CA") and not fits_state("ABC1234", "CA")
    assert fits_state("ABC1234", "TX") and fits_state("CN2X798", "TX")
    assert fits_state("ABC1234", "WY") is None  # no formats listed: no evidence either way


def test_choose_by_state_only_on_strong_evidence() -> None:
    torn = [("7ABCI23", 0.5), ("7ABC123", 0.4)]
    assert choose_by_state(torn, "CA") == 1  # best fits no CA format, a close same-length one does
    assert choose_by_state([("7ABCI23", 0.9), ("7ABC123", 0.1)], "CA") == 0  # not close enough
    assert choose_by_state([("7ABC123", 0.5), ("7ABCI23", 0.4)], "CA") == 0  # best fits: kept
    assert choose_by_state([("59CADI", 0.9), ("59CAD1", 0.8)], "CA") == 0  # a vanity plate stays
    assert (
        choose_by_state(torn, "WY") == 0 and choose_by_state(torn, "") == 0 and choose_by_state([], "CA") == 0
    )


def _read(**kw: object) -> Read:
    base: dict[str, object] = {
        "read_id": "00000000-0000-0000-0000-000000000001",
        "camera_id": "cam",
        "time": 1.0,
        "plate": "7ABCI23",
        "confidence": 0.5,
        "char_confidences": (0.5,) * 7,
        "candidates": (("7ABCI23", 0.5), ("7ABC123", 0.4), ("7A8CI23", 0.1)),
    }
    return Read(**{**base, **kw})  # type: ignore[arg-type]


def test_with_state_records_it_and_rereads_by_format() -> None:
    read = with_state(_read(), "CA")
    assert (read.state, read.plate, read.confidence, read.char_confidences) == ("CA", "7ABC123", 0.4, ())
    assert [c[0] for c in read.candidates] == ["7ABC123", "7ABCI23", "7A8CI23"]
    kept = with_state(_read(plate="7ABC123", candidates=(("7ABC123", 0.9),)), "CA")
    assert (kept.state, kept.plate) == ("CA", "7ABC123")
    assert with_state(_read(), "") == _read()
    plateless = _read(plate="", plateless=True, candidates=())
    assert with_state(plateless, "CA") is plateless


def test_state_travels_in_the_read_message_and_older_messages_decode_without_it() -> None:
    assert decode_read(encode_read(_read(state="TX"))).state == "TX"
    old = msgpack.unpackb(encode_read(_read()), raw=False)
    old.pop("state", None)
    assert decode_read(msgpack.packb(old, use_bin_type=True)).state == ""


def _plate_scene(name: str) -> tuple[Image, Box]:
    """A white plate with `name` printed across its top and characters below, on a grey road."""
    frame = np.full((300, 500, 3), 90, np.uint8)
    box = Box(100, 80, 300, 150)
    cv2.rectangle(frame, (box.x, box.y), (box.x + box.w, box.y + box.h), (245, 245, 245), -1)
    if name:
        cv2.putText(frame, name, (box.x + 85, box.y + 34), cv2.FONT_HERSHEY_DUPLEX, 1.0, (40, 40, 40), 2)
    cv2.putText(frame, "ABC 1234", (box.x + 20, box.y + 115), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (20, 20, 20), 5)
    return frame, box


@pytest.fixture(scope="module")
def reader() -> StateReader:
    return StateReader()


def test_the_shipped_reader_names_a_printed_state_and_nothing_on_a_plain_plate(reader: StateReader) -> None:
    frame, box = _plate_scene("TEXAS")
    guess = reader.read(frame, box)
    assert guess is not None and guess.state == "TX"
    frame, box = _plate_scene("ARIZONA")
    guess = reader.read(frame, box)
    assert guess is not None and guess.state == "AZ"
    assert reader.read(*_plate_scene("")) is None


def test_a_pass_closing_names_its_state_once_on_its_best_frame() -> None:
    asked: list[Box] = []

    def state_of(frame: Image, box: Box) -> str:
        asked.append(box)
        return "CA"

    def reread(frame: Image, box: Box, region: str) -> Observation | None:
        return None

    tracker = ConfirmingTracker("cam", reread=reread, state_of=state_of)
    out: list[Read] = []
    for i in range(5):
        cands = (Candidate("7ABCI23", 0.5), Candidate("7ABC123", 0.45))
        seen = Observation("7ABCI23", 0.5, (0.5,) * 7, cands, Box(300 + 5 * i, 100, 100, 50), 0.9, "us")
        out += tracker.update([seen], 1000.0 + i / 10, np.zeros((8, 8, 3), np.uint8))
    out += tracker.update([], 1003.0)
    final = [r for r in out if not r.provisional]
    assert [(r.plate, r.state) for r in final] == [("7ABC123", "CA")]
    assert len(asked) == 1  # once per pass, not per frame
    assert all(r.state == "" for r in out if r.provisional)


class _Recognizer:
    """Stand-in plate recognizer: one read per image, torn between two texts as `torn` says."""

    def __init__(self, torn: dict[str, tuple[tuple[str, float], ...]]) -> None:
        self.torn = torn

    def analyse(self, frame: Image, region: str | None = None) -> object:
        from types import SimpleNamespace

        key = "texas" if frame[85:118, 185:320].min() < 100 else "plain"  # the name printed at the top
        cands = self.torn[key]
        seen = Observation(
            cands[0][0],
            cands[0][1],
            (),
            tuple(Candidate(t, s) for t, s in cands),
            Box(100, 80, 300, 150),
            0.9,
            "us",
        )
        return SimpleNamespace(reads=[seen])


def test_bench_state_figures_count_named_missed_and_unshown(tmp_path, reader: StateReader) -> None:
    from platewatch.engine.bench.accuracy import load_samples
    from platewatch.engine.bench.state_accuracy import run_state_accuracy

    for name, printed, plate in (("tx.png", "TEXAS", "ABC1234"), ("none.png", "", "ABC1234")):
        frame, box = _plate_scene(printed)
        cv2.imwrite(str(tmp_path / name), frame)
        (tmp_path / name).with_suffix(".txt").write_text(
            f"{name}\t{box.x}\t{box.y}\t{box.w}\t{box.h}\t{plate}\n"
        )
    labels = tmp_path / "labels.tsv"
    labels.write_text("image\tcolour\ttype\tstate\ntx.png\t-\t-\tTX\nnone.png\t-\t-\t-\n")
    torn = {"texas": (("ABC1Z34", 0.5), ("ABC1234", 0.4)), "plain": (("ABC1234", 0.9),)}
    found = run_state_accuracy(
        load_samples(tmp_path),
        labels,
        _Recognizer(torn),
        "us",
        lambda k, n: (0.0, 1.0),
        reader,  # type: ignore[arg-type]
    )
    assert found is not None
    assert (found["state"], found["state_shown"], found["state_wrong"], found["state_missed"]) == (
        1.0,
        1,
        0,
        0,
    )
    assert (found["state_said_unshown"], found["state_unshown"]) == (0, 1)
    assert found["state_by"]["text"] == {"right": 1, "wrong": 0, "unshown": 0}
    # TX's formats chose the close candidate that fits: the misread is fixed, nothing broken
    assert (found["formats_changed"], found["formats_fixed"], found["formats_broken"]) == (1, 1, 0)
    assert (found["exact_before"], found["exact_after"]) == (0.5, 1.0)


def _scripted_plate(rng: np.random.Generator, script: bool) -> tuple[Image, Box]:
    """A small white plate, its characters below; `script` draws a thin slanted wavy word across
    its top, as California's red script looks at camera distance (else the top is plain or
    carries a frame's bar of text)."""
    frame = np.full((120, 200, 3), int(rng.integers(60, 120)), np.uint8)
    box = Box(int(rng.integers(40, 60)), int(rng.integers(30, 45)), 90, 45)
    cv2.rectangle(frame, (box.x, box.y), (box.x + box.w, box.y + box.h), (235, 235, 235), -1)
    cv2.putText(frame, "7ABC123", (box.x + 6, box.y + 38), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (90, 40, 30), 2)
    if script:
        xs = np.arange(box.x + 22, box.x + 68)
        ys = box.y + 7 + 2.5 * np.sin((xs - xs[0]) / 2.0 + rng.uniform(0, 3))
        for x, y in zip(xs, ys, strict=True):
            cv2.line(frame, (int(x), int(y) + 2), (int(x) + 1, int(y) - 2), (60, 60, 170), 1)
    elif rng.random() < 0.5:
        cv2.rectangle(frame, (box.x, box.y - 4), (box.x + box.w, box.y + 6), (30, 30, 30), -1)
    noise = rng.normal(0, 6, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8), box


def test_design_features_ignore_the_bands_contrast_and_follow_the_box() -> None:
    from platewatch.engine.vision.plate_design import BAND, CELL, PLATE_H, PLATE_W, band_of, features

    frame, box = _scripted_plate(np.random.default_rng(0), True)
    band = band_of(frame, box)
    assert band.shape == (round((BAND[1] - BAND[0]) * PLATE_H), PLATE_W)
    dimmer = (band.astype(np.float32) * 0.5).astype(np.uint8)
    assert np.corrcoef(features(band), features(dimmer))[0, 1] > 0.95  # per-cell normalised
    assert features(band).shape == ((band.shape[0] // CELL) * (PLATE_W // CELL) * 9,)
    # a plate at the frame's very top still gives a full band (the border repeats)
    assert band_of(frame, Box(box.x, 0, box.w, box.h)).shape == band.shape


def test_design_model_learns_a_script_band_and_its_leave_one_out_scores_separate() -> None:
    from platewatch.engine.vision.plate_design import band_of, features, fit_ridge, leave_one_out

    rng = np.random.default_rng(1)
    labels = np.array([1.0, -1.0] * 12)
    x = np.array([features(band_of(*_scripted_plate(rng, bool(y > 0)))) for y in labels])
    scores = leave_one_out(x, labels, 0.1)
    assert scores[labels > 0].min() > scores[labels < 0].max()  # every held-out photo on its side
    model = fit_ridge(x, labels, 0.1, 0.0)
    fresh = [model.score(features(band_of(*_scripted_plate(rng, s)))) for s in (True, False)]
    assert fresh[0] > 0.0 > fresh[1]


def test_design_model_round_trips_and_refuses_other_features(tmp_path) -> None:
    import json

    from platewatch.engine.vision.plate_design import DesignModel, fit_ridge
    from platewatch.engine.vision.types import VisionError

    rng = np.random.default_rng(2)
    model = fit_ridge(rng.normal(size=(6, 4)), np.array([1.0, -1.0] * 3), 0.1, 0.25)
    path = tmp_path / "design.json"
    path.write_text(json.dumps(model.to_json()))
    again = DesignModel.load(path)
    v = rng.normal(size=4)
    assert again.threshold == 0.25 and abs(again.score(v) - model.score(v)) < 1e-4
    path.write_text(json.dumps({**model.to_json(), "cell": 4}))
    with pytest.raises(VisionError):
        DesignModel.load(path)
    with pytest.raises(VisionError):
        DesignModel.load(tmp_path / "missing.json")


def test_the_shipped_reader_names_california_by_design_only_where_the_text_named_nothing(
    reader: StateReader,
) -> None:
    frame, box = _plate_scene("TEXAS")
    assert reader.read(frame, box).how == "text"  # type: ignore[union-attr]
    guess = reader.read_design(frame, box)
    assert guess is None or guess.state == "CA"  # the design names California or nothing
    assert reader.design.threshold > 0.0 and reader.design.weights.shape == reader.design.mean.shape
