"""The fault harness in its short form: the whole stack, parts SIGKILLed and restarted in turn, nothing lost.

`platewatch bench pipeline --faults …` runs its own embedded PostgreSQL, Redis and broker, two
workers on looped demo cameras, the API and a reconnecting dispatcher (engine/bench/faults.py).
Here a subset of the faults, short, on small frames: every pass a live worker watched whole is in
the store exactly once and every hotlisted one reached the dispatcher's websocket exactly once
(counted as received, replays included), each part came back, and nothing was stuck or threw.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from platewatch.engine.bench.faults import run_fault_bench

# The stack's start (two workers compiling the models) takes minutes on a busy 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FAULTS = ["worker", "database", "api"]


def test_killing_a_worker_the_database_and_the_api_loses_and_repeats_nothing(tmp_path: Path) -> None:
    figures = run_fault_bench(
        FAULTS,
        60.0,
        cameras=2,
        width=960,
        height=540,
        fps=5,
        json_path=tmp_path / "faults.json",
        logs_dir=tmp_path / "logs",
        console=Console(stderr=True),
    )
    shown = json.dumps({k: v for k, v in figures.items() if k != "per_fault"}, indent=1)
    assert figures["faults"] == FAULTS, shown
    assert figures["passes"] >= 8 and figures["alerts_expected"] >= 6, shown  # the run saw traffic
    assert figures["lost"] == 0, shown
    assert figures["alerts_lost"] == 0, shown
    # On a starved machine the tracker used to end a pass early and store a second final read of it
    # (about one pass in 50); it now continues a pass across a stall of the frames and folds a
    # return one character off where the plate was heading (engine/track/tracker.py). A quiet
    # 30-minute soak still split one pass of 453 (docs/measuring.md), not the faults' doing: one
    # such split (and the second alert of its pass) is tolerated; more is a regression.
    assert figures["duplicated"] <= 1, shown
    assert figures["alerts_duplicated"] <= figures["duplicated"], shown
    for fault, seconds in figures["recovery_s"].items():
        assert seconds is not None, f"{fault} did not recover: {shown}"
    assert figures["stuck"] == [] and figures["spinning"] == [], shown
    assert figures["tracebacks_unprovoked"] == 0, shown
    assert (tmp_path / "faults.html").read_text().count("<tr>") >= len(FAULTS)
