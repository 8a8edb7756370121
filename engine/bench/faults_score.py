"""Counting a fault run: each capture's reads in the order the looped demo video shows its plates.

A file camera restarts its video whenever a worker opens it, and on a starved machine it plays late
and then catches up, so wall-clock times cannot place the video's passes. Their order can: within
one capture (a *session*: one worker's run of one camera, known by the `first_frame_at` its health
in Redis carries) the plates come in the video's order, loop after loop. So the stored final reads
of a session, by time, must step through that cycle one pass at a time: a step that skips plates
lost those passes, a plate read again within half a loop is the same pass stored twice, and a session
that began inside the window must start at the video's first pass. Passes a killed worker was in the
middle of are gone with its frames (as a real camera's would be) and show nowhere; time when no
worker captured a camera is reported as `blind` by `coverage`.

Each pass of a hotlisted plate must also have exactly one `raised` event on the dispatcher's
websocket, counted as received (`alerts_lost` / `alerts_duplicated`): an alert belongs to the pass
whose read, same camera and plate, is nearest in time (within `ALERT_SLACK_S`). A loss is charged to
the fault whose slot it happened in, so the per-fault detail says which fault lost it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from platewatch.engine.plates import edit_distance

#: How far an alert's read time may be from its pass's stored read (the provisional read's best
#: frame so far against the whole pass's best).
ALERT_SLACK_S = 3.0


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


def slot_of(at: float, slots: Sequence[tuple[str, float]]) -> str:
    """The fault whose slot `at` falls in: slots are (name, start) in order; before the first, 'steady'."""
    name = "steady"
    for slot, began in slots:
        if at >= began:
            name = slot
    return name


def _index(plate: str, plates: Sequence[str]) -> int | None:
    near = [i for i, p in enumerate(plates) if edit_distance(plate, p) <= 1]
    return near[0] if len(near) == 1 else None


def score(
    plan: Sequence[PassPlan],
    length_s: float,
    sessions: Sequence[Session],
    listed: set[str],
    reads: Sequence[tuple[str, str, float]],
    alerts: Sequence[tuple[str, str, float]],
    slots: Sequence[tuple[str, float]],
    *,
    start: float,
    end: float,
) -> tuple[Tally, dict[str, Tally], int]:
    """Reads and alerts as (camera, plate, time): stored final reads (the plate read, the read's
    time) and received `raised` events (the hotlist entry, the alert's read time). Returns the run's
    tally, one per slot, and the alerts that belong to no stored pass in the window."""
    plates = [p.plate for p in plan]
    n = len(plates)
    total = Tally()
    per: dict[str, Tally] = {}
    passes: list[tuple[str, int, list[float]]] = []  # (camera, plan index, its reads' times)

    def charge(at: float, note: str, **counts: int) -> None:
        slot = per.setdefault(slot_of(at, slots), Tally())
        for t in (total, slot):
            for key, value in counts.items():
                setattr(t, key, getattr(t, key) + value)
            if note:
                t.examples.append(note)

    def clock(at: float) -> str:
        return time.strftime("%H:%M:%S", time.localtime(at))

    taken: set[int] = set()
    for s in sorted(sessions, key=lambda x: x.first_frame_at):
        mine = []
        for i, (camera, plate, at) in enumerate(reads):
            if i in taken or camera != s.camera or not s.first_frame_at - 0.5 <= at <= s.last_frame_at + 1:
                continue
            taken.add(i)
            if start <= at <= end and (k := _index(plate, plates)) is not None:
                mine.append((at, k))
        mine.sort()
        if mine and s.first_frame_at >= start and mine[0][1] > 0:
            skipped = mine[0][1]
            charge(mine[0][0], f"{s.camera}: the capture began with pass {skipped + 1}", lost=skipped)
        prev: tuple[float, int] | None = None
        for at, k in mine:
            if prev is not None:
                step = (k - prev[1]) % n
                if step == 0 and at - prev[0] < length_s / 2:
                    passes[-1][2].append(at)
                    charge(at, f"{s.camera} {plates[k]} at {clock(at)}: stored twice", duplicated=1)
                    prev = (at, k)
                    continue
                gone = (step or n) - 1
                if gone:
                    names = ", ".join(plates[(prev[1] + j) % n] for j in range(1, gone + 1))
                    charge(at, f"{s.camera} before {clock(at)}: no read of {names}", lost=gone)
                    between = [plates[(prev[1] + j) % n] for j in range(1, gone + 1)]
                    missed = [p for p in between if p in listed]
                    # an alert may have reached the dispatcher though its read was never stored
                    unseen = sum(
                        not any(c == s.camera and e == p and prev[0] < a < at for c, e, a in alerts)
                        for p in missed
                    )
                    charge(at, "", expected=gone, listed=len(missed), alerts_lost=unseen)
            passes.append((s.camera, k, [at]))
            prev = (at, k)
    # each alert to the pass whose read is nearest, same camera and plate
    got: dict[int, int] = {}
    stray = 0
    for camera, entry, at in alerts:
        best, gap = None, ALERT_SLACK_S
        for j, (pc, k, times) in enumerate(passes):
            if pc == camera and plates[k] == entry:
                d = min(abs(at - t) for t in times)
                if d <= gap:
                    best, gap = j, d
        if best is None:
            stray += start <= at <= end
        else:
            got[best] = got.get(best, 0) + 1
    for j, (camera, k, times) in enumerate(passes):
        listed_pass = plates[k] in listed
        count = got.get(j, 0)
        note = ""
        if listed_pass and count != 1:
            note = f"{camera} {plates[k]} at {clock(times[0])}: {count} alerts"
        charge(
            times[0],
            note,
            expected=1,
            listed=int(listed_pass),
            alerts_lost=int(listed_pass and count == 0),
            alerts_duplicated=max(0, count - 1) if listed_pass else 0,
        )
    return total, per, stray


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
