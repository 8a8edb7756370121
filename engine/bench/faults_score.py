"""Counting a fault run: which passes of the looped demo video were watched, and what became of each.

A file camera has no clock of its own that survives a restart: each time a worker opens it, the video
starts again at that moment. So the passes are placed per capture (a *session*: one worker's run of one
camera, known by its `first_frame_at`, which the camera's health in Redis carries), at
`first_frame_at + loop × length + enter_s`. A pass counts as expected when a session watched it from
before it entered until `FINAL_MARGIN_S` after it left (the tracker ends a pass once the plate is out
of sight, then writes the final read). Passes a killed worker was in the middle of are `interrupted`
(the frames are gone with the process, as a real camera's would be), passes nobody watched (the
camera between two workers) are not expected at all; both are reported, neither is a loss.

Each expected pass must have exactly one final read in the store (`lost` / `duplicated`) and, when its
plate is hotlisted, exactly one `raised` event on the dispatcher's websocket, counted as received
(`alerts_lost` / `alerts_duplicated`). A loss is charged to the fault whose slot the pass ended in,
so the per-fault detail says which fault lost it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from platewatch.engine.plates import edit_distance

#: After a pass leaves the frame: the tracker's end of the pass, the final read's trip to the store.
FINAL_MARGIN_S = 3.0
#: How far a read's time may sit outside its pass's on-screen interval (frame pacing, decode).
SLACK_S = 1.0


@dataclass(frozen=True)
class PassPlan:
    """One car of the video: its plate and when it is on screen, seconds from the video's start."""

    plate: str
    enter_s: float
    leave_s: float


@dataclass
class Session:
    """One capture of one camera: from its first frame to the last frame a health report showed."""

    camera: str
    first_frame_at: float
    last_frame_at: float
    worker: str = ""


@dataclass(frozen=True)
class Expected:
    camera: str
    plate: str
    enter_at: float
    leave_at: float
    session: float  # the session's first_frame_at
    listed: bool


@dataclass
class Tally:
    expected: int = 0
    listed: int = 0
    lost: int = 0
    duplicated: int = 0
    alerts_lost: int = 0
    alerts_duplicated: int = 0
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected_passes": self.expected,
            "expected_alerts": self.listed,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "alerts_lost": self.alerts_lost,
            "alerts_duplicated": self.alerts_duplicated,
            "examples": self.examples[:8],
        }


def sessions_from_health(samples: Iterable[Mapping[str, Any]]) -> list[Session]:
    """Health reports (`pw:camera:<id>:health`, sampled over the run) → one session per capture."""
    found: dict[tuple[str, float], Session] = {}
    for s in samples:
        first = s.get("first_frame_at")
        if first is None:
            continue
        age = s.get("last_frame_age_s")
        last = float(s["at"]) - float(age if age is not None else 0.0)
        key = (str(s["camera_id"]), round(float(first), 3))
        known = found.get(key)
        if known is None:
            found[key] = Session(key[0], float(first), last, str(s.get("worker", "")))
        else:
            known.last_frame_at = max(known.last_frame_at, last)
    return sorted(found.values(), key=lambda x: (x.camera, x.first_frame_at))


def expected_passes(
    passes: Sequence[PassPlan],
    length_s: float,
    sessions: Sequence[Session],
    listed: set[str],
    *,
    start: float,
    end: float,
) -> tuple[list[Expected], int]:
    """The passes watched whole by some session within [start, end], and how many were interrupted
    (a session ended, or the run did, while the car was on screen or its read on its way)."""
    found: list[Expected] = []
    interrupted = 0
    for s in sessions:
        loop = 0
        while True:
            base = s.first_frame_at + loop * length_s
            if base > min(end, s.last_frame_at):
                break
            for p in passes:
                enter, leave = base + p.enter_s, base + p.leave_s
                if enter < start or enter > s.last_frame_at or enter > end:
                    continue
                if leave + FINAL_MARGIN_S > min(s.last_frame_at, end):
                    interrupted += 1
                    continue
                found.append(Expected(s.camera, p.plate, enter, leave, s.first_frame_at, p.plate in listed))
            loop += 1
    return found, interrupted


def _fits(e: Expected, plate: str, camera: str, at: float) -> bool:
    return (
        camera == e.camera
        and e.enter_at - SLACK_S <= at <= e.leave_at + SLACK_S
        and edit_distance(plate, e.plate) <= 1
    )


def slot_of(at: float, slots: Sequence[tuple[str, float]]) -> str:
    """The fault whose slot `at` falls in: slots are (name, start) in order; before the first, 'steady'."""
    name = "steady"
    for slot, began in slots:
        if at >= began:
            name = slot
    return name


def score(
    expected: Sequence[Expected],
    reads: Sequence[tuple[str, str, float]],
    alerts: Sequence[tuple[str, str, float]],
    slots: Sequence[tuple[str, float]],
) -> tuple[Tally, dict[str, Tally], int]:
    """Reads and alerts as (camera, plate, time): stored final reads (plate read, read time) and
    received `raised` events (the hotlist entry, the alert's read time). Returns the whole run's
    tally, one per slot, and the alerts that fit no expected pass (stray, or of an interrupted pass)."""
    total = Tally()
    per: dict[str, Tally] = {}
    used_alerts: set[int] = set()
    for e in expected:
        slot = per.setdefault(slot_of(e.leave_at, slots), Tally())
        mine = [r for r in reads if _fits(e, r[1], r[0], r[2])]
        got = [i for i, a in enumerate(alerts) if a[1] == e.plate and _fits(e, a[1], a[0], a[2])]
        used_alerts.update(got)
        for t in (total, slot):
            t.expected += 1
            t.listed += e.listed
            t.lost += not mine
            t.duplicated += max(0, len(mine) - 1)
            if e.listed:
                t.alerts_lost += not got
                t.alerts_duplicated += max(0, len(got) - 1)
        problem = []
        if len(mine) != 1:
            problem.append(f"{len(mine)} reads")
        if e.listed and len(got) != 1:
            problem.append(f"{len(got)} alerts")
        if problem:
            when = time.strftime("%H:%M:%S", time.localtime(e.enter_at))
            note = f"{e.camera} {e.plate} entering at {when}: {', '.join(problem)}"
            total.examples.append(note)
            slot.examples.append(note)
    return total, per, len(alerts) - len(used_alerts)


def coverage(
    sessions: Sequence[Session], cameras: Sequence[str], start: float, end: float
) -> tuple[float, float]:
    """Camera-seconds in [start, end] that no session captured (a camera between two workers: its
    passes are not expected, and a site loses them), and camera-seconds captured by two sessions at
    once (two workers on one camera: a real camera's passes would be read twice)."""
    blind = double = 0.0
    for camera in cameras:
        spans = sorted(
            (max(start, s.first_frame_at), min(end, s.last_frame_at))
            for s in sessions
            if s.camera == camera and s.last_frame_at > start and s.first_frame_at < end
        )
        reach = start
        for a, b in spans:
            if b <= a:
                continue
            blind += max(0.0, a - reach)
            double += max(0.0, min(b, reach) - a)
            reach = max(reach, b)
        blind += max(0.0, end - reach)
    return round(blind, 1), round(double, 1)
