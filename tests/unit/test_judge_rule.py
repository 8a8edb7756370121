"""The fixed rule that judges a recognizer fine-tune (models/training/judge.py): gate, pick, ship.

Why tested: the rule is decided before a run and must not bend afterwards; a slip here (a set
comparison the wrong way round, a tie broken differently) would change which network ships.
"""

from __future__ import annotations

from typing import Any

import pytest

from platewatch.models.training import judge


def _bench(plates: int, *misread: tuple[str, str], within_one: float = 1.0) -> dict[str, Any]:
    return {
        "plates": plates,
        "exact": (plates - len(misread)) / plates,
        "within_one": within_one,
        "misreads": [{"image": image, "truth": truth, "read": "?"} for image, truth in misread],
    }


def test_the_gate_refuses_a_new_misread_and_tolerates_an_old_one() -> None:
    shipped = _bench(83, ("a.jpg", "ABC123"))
    assert judge.gate_passes(_bench(83), shipped)
    assert judge.gate_passes(_bench(83, ("a.jpg", "ABC123")), shipped)
    assert not judge.gate_passes(_bench(83, ("b.jpg", "CG2H2U")), shipped)
    # Fixing an old misread does not buy a new one.
    assert not judge.gate_passes(_bench(83, ("b.jpg", "CG2H2U")), _bench(83, ("a.jpg", "X"), ("c.jpg", "Y")))
    assert not judge.gate_passes(_bench(82), shipped)  # another set of scenes


def _cand(alpha: float, within_one: float, exact: float) -> dict[str, Any]:
    return {"alpha": alpha, "crops": {"within_one": within_one, "exact": exact}}


def test_the_pick_prefers_within_one_then_exact_then_the_alpha_nearest_a_half() -> None:
    assert judge.pick({}) is None
    by_within = {"a": _cand(0.5, 0.96, 0.95), "b": _cand(1.0, 0.97, 0.90)}
    assert judge.pick(by_within) == "b"
    by_exact = {"a": _cand(0.5, 0.97, 0.93), "b": _cand(0.25, 0.97, 0.94)}
    assert judge.pick(by_exact) == "b"
    tie = {"a": _cand(0.25, 0.97, 0.93), "b": _cand(0.75, 0.97, 0.93), "c": _cand(0.5, 0.97, 0.93)}
    assert judge.pick(tie) == "c"


def _held(us: float, us_one: float, us_all: float, eu: float, br: float, crops: float) -> dict[str, Any]:
    return {
        "us_held_out": {"exact": us, "within_one": us_one},
        "us_all": {"exact": us_all},
        "eu_held_out": {"exact": eu},
        "br_held_out": {"exact": br},
        "crops": {"exact": crops},
    }


@pytest.mark.parametrize(
    ("cand", "reason"),
    [
        (_held(35 / 36, 1.0, 0.983, 1.0, 1.0, 0.93), None),
        (_held(34 / 36, 1.0, 0.983, 1.0, 1.0, 0.93), "us held-out exact"),
        (_held(35 / 36, 35 / 36, 0.983, 1.0, 1.0, 0.93), "us held-out within one"),
        (_held(1.0, 1.0, 0.975, 1.0, 1.0, 0.93), "us all exact fell"),
        (_held(1.0, 1.0, 0.983, 0.96, 1.0, 0.93), "eu held-out exact"),
        (_held(1.0, 1.0, 0.983, 1.0, 0.97, 0.93), "br held-out exact"),
        (_held(1.0, 1.0, 0.983, 1.0, 1.0, 0.92), "crops exact fell"),
    ],
)
def test_the_ship_rule_needs_every_target_and_nothing_fallen(
    cand: dict[str, Any], reason: str | None
) -> None:
    shipped = _held(34 / 36, 1.0, 0.983, 1.0, 1.0, 0.93)
    ok, why = judge.ships(cand, shipped)
    assert ok == (reason is None)
    if reason:
        assert len(why) == 1 and why[0].startswith(reason)
