"""Evidence-weighted matching with the calibrated per-character evidence: a confident character is
taken as read, the candidates admit a confusion, a crowded neighbourhood weakens each match; and the
alerts bench's statistics."""

from __future__ import annotations

from pathlib import Path

import pytest

from platewatch.codecs import Alert, Read, decode_alert, encode_alert
from platewatch.codecs.envelope import pack_map
from platewatch.engine.bench.alerts import Outcome, choose_thresholds, figures_at, rate
from platewatch.engine.hotlist import HotlistIndex, ListSettings, calibration
from platewatch.engine.hotlist.entry import ALERT_THRESHOLD, parse_list_settings
from platewatch.engine.hotlist.matcher import likelihood, match_read_text, read_evidence

SURE = (0.99,) * 7


def _index(*plates: str, **settings: float) -> HotlistIndex:
    index = HotlistIndex({"stolen": ListSettings("stolen", **settings)}, "pw:hot")  # type: ignore[arg-type]
    index.build(["stolen"] * len(plates), list(plates), [b"reason\x1fx"] * len(plates))
    return index


def _at(q: float) -> tuple[float, ...]:
    return (0.99, 0.99, q, 0.99, 0.99, 0.99, 0.99)


def test_a_confident_character_is_taken_as_read() -> None:
    index = _index("7ABC123")
    sure = match_read_text(index, "7A8C123", 0.99, [("7A8C123", 0.98)], SURE)
    # found, but never loud: a quiet possible match at most
    assert [m.kind for m in sure] == ["fuzzy"] and sure[0].tier != "alert"
    assert sure[0].differs == (2,) and sure[0].evidence < ALERT_THRESHOLD
    strict = _index("7ABC123", possible_threshold=0.02)  # a list that wants no weak matches at all
    assert [m.tier for m in match_read_text(strict, "7A8C123", 0.99, [("7A8C123", 0.98)], SURE)] == [""]
    # the less sure the character, the more a confusion there is admitted
    evidence = [
        match_read_text(index, "7A8C123", q, [("7A8C123", q)], _at(q))[0].evidence for q in (0.999, 0.9, 0.6)
    ]
    assert evidence == sorted(evidence) and evidence[0] < evidence[-1]
    # an exact read of a listed plate is near certain
    exact = match_read_text(index, "7ABC123", 0.95, [("7ABC123", 0.95)], SURE)
    assert exact[0].kind == "exact" and exact[0].tier == "alert" and exact[0].evidence > 0.9


def test_the_calibration_is_learnt_per_character() -> None:
    # fitted on the recognizer's reads: reading O where the plate has 0 is common even when sure,
    # reading 8 where it has B is not, so the same confidence admits one and not the other
    at = calibration.ALPHABET.index
    assert calibration.PAIR_LOG[at("O")][at("0")] > calibration.PAIR_LOG[at("8")][at("B")]
    ambiguous = likelihood(read_evidence("7OC123", 0.999, [("7OC123", 0.999)], SURE[:6]), "70C123")[0]
    clear = likelihood(read_evidence("7A8C123", 0.999, [("7A8C123", 0.999)], _at(0.999)), "7ABC123")[0]
    assert ambiguous > 10 * clear


def test_the_candidates_admit_a_confusion() -> None:
    ev = read_evidence("7A8C123", 0.6, [("7A8C123", 0.5), ("7ABC123", 0.45)], _at(0.6))
    value, differs = likelihood(ev, "7ABC123")
    alone = likelihood(read_evidence("7A8C123", 0.6, [("7A8C123", 0.5)], _at(0.6)), "7ABC123")[0]
    assert differs == (2,) and value > 10 * alone
    index = _index("7ABC123")
    (m,) = match_read_text(index, "7A8C123", 0.6, [("7A8C123", 0.5), ("7ABC123", 0.45)], _at(0.6))
    assert m.tier == "alert"
    # a lower candidate with little probability is no evidence
    weak = read_evidence("7A8C128", 0.9, [("7A8C128", 0.9), ("7ABC123", 0.01)], SURE)
    assert likelihood(weak, "7ABC123")[0] < 0.05


def test_a_crowded_neighbourhood_weakens_each_match() -> None:
    reading = ("7A8C123", 0.5, [("7A8C123", 0.3), ("7ABC123", 0.3), ("7A8C12T", 0.3)], (*_at(0.5)[:6], 0.5))
    lone = match_read_text(_index("7ABC123"), *reading)
    crowd = match_read_text(_index("7ABC123", "7A8C12T", "7ABC12T"), *reading)
    by_entry = {m.entry: m.evidence for m in crowd}
    assert by_entry["7ABC123"] < lone[0].evidence


def test_list_thresholds_are_list_settings() -> None:
    default = ListSettings("a")
    settings, problems = parse_list_settings(
        "a", {"alert_threshold": "0.7", "possible_threshold": "0.1"}, default
    )
    assert (settings.alert_threshold, settings.possible_threshold, problems) == (0.7, 0.1, [])
    settings, problems = parse_list_settings("a", {"alert_threshold": "2"}, default)
    assert settings.alert_threshold == default.alert_threshold and problems
    index = _index("7ABC123", alert_threshold=0.9, possible_threshold=0.8)
    assert match_read_text(index, "7ABC123", 0.95, [], SURE)[0].tier == "alert"  # a sure exact read
    index = _index("7ABC123", alert_threshold=0.99, possible_threshold=0.0)
    (m,) = match_read_text(index, "7A8C123", 0.6, [("7A8C123", 0.5), ("7ABC123", 0.45)], _at(0.6))
    assert m.tier == "possible"


def test_alert_fields_are_optional_on_the_wire() -> None:
    read = Read(
        read_id="6f1c0b9e-4f6a-5d8e-9a43-70c1a4e2d462",
        camera_id="c",
        time=1.0,
        plate="7A8C123",
        confidence=0.9,
    )
    alert = Alert("a1", read, "stolen", "7ABC123", "fuzzy", 0.9, tier="possible", evidence=0.3, differs=(2,))
    assert decode_alert(encode_alert(alert)) == alert
    old = {k: v for k, v in encode_alert_map(alert).items() if k not in ("tier", "evidence", "differs")}
    decoded = decode_alert(pack_map(old))
    assert (decoded.tier, decoded.evidence, decoded.differs) == ("alert", -1.0, ())


def encode_alert_map(alert: Alert) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(alert)


def _o(listed: bool, true: float | None = None, false: float | None = None, near: bool = True) -> Outcome:
    return Outcome(
        listed, True, "synthetic", near, near, true, "exact" if true else "", false, "fuzzy" if false else ""
    )


def test_bench_statistics() -> None:
    r = rate(0, 10_000, 10_000)
    assert r["value"] == 0 and r["ci95"][0] == 0 and 3 < r["ci95"][1] < 4  # the rule of three
    outcomes = [_o(True, 0.9)] * 98 + [_o(True, 0.3)] * 2 + [_o(False)] * 890 + [_o(False, false=0.4)] * 10
    alert, possible = choose_thresholds(outcomes)
    assert alert == 0.3 and possible <= alert  # the highest threshold that keeps 99 % recall
    figures = figures_at(outcomes, 0.5, 0.2)
    assert figures["recall_listed_within_one"]["hits"] == 98
    assert figures["false_alerts_per_10k"]["hits"] == 0 and figures["false_possible_per_10k"]["hits"] == 10
    assert figures["by_kind"]["fuzzy"]["false_possible_per_10k"]["hits"] == 10


def test_bench_figures_split_by_plate_style() -> None:
    """Stacked plates are read far worse than one-row ones, so the bench says which style its
    false alerts and misses come from; the styles' false alerts add up to the total's."""
    from dataclasses import replace

    one_row = [replace(_o(True, 0.9), style="us")] * 9 + [replace(_o(False), style="us")] * 9
    stacked = [
        replace(_o(True, 0.001), style="us_stacked"),
        replace(_o(False, false=0.6), style="us_stacked"),
    ]
    figures = figures_at(one_row + stacked, 0.5, 0.2)
    split = figures["by_style"]
    assert split["us"]["recall_listed_within_one"]["hits"] == 9 and split["us"]["missed_within_one"] == 0
    assert split["us_stacked"]["missed_within_one"] == 1
    assert split["us_stacked"]["false_alerts_per_10k"]["hits"] == 1
    assert split["us_stacked"]["false_alerts_per_10k"]["n"] == figures["withheld_reads"]
    assert "by_style" not in figures_at([_o(True, 0.9)], 0.5, 0.2)  # no style recorded: no split


def test_bench_pass_final_read_is_confirmed_by_its_rereads(tmp_path: Path) -> None:
    """A pass's final read in the bench is what production sends: the vote, replaced by a thorough
    reread that reads another text more confidently (track/confirm.py), the vote's text kept among
    the candidates; the rereads survive the bench's cache."""
    from dataclasses import replace

    from platewatch.engine.bench.alerts import BenchRead, _cached, confirmed_vote, voted

    def frame(text: str, q: float) -> BenchRead:
        return BenchRead("pass", "AB12345", text, q, (q,) * len(text), ((text, q),), style="us_stacked")

    frames = [frame("12345", 0.9), frame("12345", 0.8), frame("12345", 0.85)]
    assert confirmed_vote(frames).plate == voted(frames).plate == "12345"  # nothing re-read
    sure = ("AB12345", 0.95, (0.95,) * 7, (("AB12345", 0.95),))
    frames[0] = replace(frames[0], reread=sure)
    final = confirmed_vote(frames)
    assert final.plate == "AB12345" and final.style == "us_stacked"
    assert "12345" in {t for t, _ in final.candidates}
    unsure = replace(frames[0], reread=("AB12345", 0.5, (0.5,) * 7, (("AB12345", 0.5),)))
    assert confirmed_vote([unsure, *frames[1:]]).plate == "12345"  # less sure than the vote
    path = tmp_path / "passes.jsonl.gz"
    _cached(path, lambda: frames)
    loaded = _cached(path, lambda: [])
    assert loaded[0].reread == sure and loaded[1].reread is None and loaded[0].style == "us_stacked"
    assert confirmed_vote(loaded).plate == "AB12345"


def test_bench_reread_frame_gives_back_the_crop() -> None:
    """The frame a synthetic crop is re-read in puts the box where the pipeline's crop of it is the
    crop itself, so the reread's main view reads what the cheap read read."""
    import numpy as np

    from platewatch.engine.bench.alerts import _as_frame
    from platewatch.engine.vision.pipeline import crop_box

    ramp = np.add.outer(np.arange(56), np.arange(171)).astype(np.uint8)  # smooth: a pixel off is close
    crop = np.repeat(ramp[:, :, None], 3, axis=2)
    frame, box = _as_frame(crop)
    again = crop_box(frame, box)
    assert abs(again.shape[0] - 56) <= 1 and abs(again.shape[1] - 171) <= 1
    h, w = min(56, again.shape[0]), min(171, again.shape[1])
    assert np.abs(again[:h, :w].astype(int) - crop[:h, :w].astype(int)).max() <= 2


def test_bench_traffic_mix_draws_the_measured_share_of_stacked_plates() -> None:
    """The synthetic traffic's stacked share is a measured figure, drawn as given, and a cache of
    one mix is never read as another's."""
    from rich.console import Console

    from platewatch.engine.bench.alerts import STACKED_SHARE, _mix_key, pass_reads, synth_styles
    from platewatch.engine.vision.types import OcrResult

    class Reader:
        def read_batch(self, crops: list[object]) -> list[OcrResult]:
            return [OcrResult("", 0.0, (), ()) for _ in crops]

    assert dict(synth_styles())["us_stacked"] == STACKED_SHARE
    assert sum(share for _, share in synth_styles(0.1)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        synth_styles(1.5)
    assert _mix_key(STACKED_SHARE) != _mix_key(0.1)
    quiet = Console(quiet=True)
    for share, expected in ((0.0, {"us"}), (1.0, {"us_stacked"})):
        reads, _ = pass_reads(12, 1, 5, Reader(), quiet, stacked_share=share)
        assert {r.style for r in reads} == expected
