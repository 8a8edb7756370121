"""The messages on the pw.* topics.

Times are float seconds since the epoch (UTC): msgpack has no portable datetime and every
consumer (Python, a browser's JavaScript) handles a float. Images are JPEG bytes, never arrays,
because a read crosses the network and a JPEG crop is a few kB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA_VERSION = 1

#: One frame's reading inside a pass's read: (text, confidence, per-character confidences,
#: candidates as (text, score)), as the recognizer gave it for that frame.
FrameReading = tuple[str, float, tuple[float, ...], tuple[tuple[str, float], ...]]


@dataclass(frozen=True, slots=True)
class Read:
    """One plate read of one vehicle pass (provisional while the pass goes on, then final)."""

    read_id: str
    camera_id: str
    time: float
    plate: str
    confidence: float
    region: str = ""
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    char_confidences: tuple[float, ...] = ()
    candidates: tuple[tuple[str, float], ...] = ()
    track_length: int = 1
    provisional: bool = False
    pass_id: str = ""
    crop_jpeg: bytes | None = None
    overview_jpeg: bytes | None = None
    v: int = SCHEMA_VERSION
    # The vehicle (after version 1's first reads: a message without them decodes with these
    # defaults). `colour` is empty where not sure enough to show, `vehicle_type` where the type is
    # withheld; `direction` is "approaching", "receding" or empty, `heading` the image-plane
    # direction of travel in degrees (0 right, 90 up) or None. A `plateless` read is a pass whose
    # plate could not be read: empty `plate`, never matched or alerted.
    colour: str = ""
    colour_confidence: float = 0.0
    vehicle_type: str = ""
    direction: str = ""
    heading: float | None = None
    plateless: bool = False
    # The plate's issuing state (USPS code, e.g. "TX") where the plate shows it, else empty; a
    # message from before the field decodes with the empty default.
    state: str = ""
    # The readings of (at most a few of) the pass's frames the vote was made of, so the matcher can
    # weigh frames that agree as more evidence than one frame (the vote's support stays on one
    # frame's confidence scale). Empty for one-frame reads and in messages from before the field.
    frames: tuple[FrameReading, ...] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    """A read that matched a hotlist entry. `verified` stays False until a dispatcher checks it (462.2(f)).

    `tier` is "alert" or "possible" (a weaker match the dispatcher sees apart, without sound);
    `evidence` (0..1) how likely the vehicle is the entry by the read's own confidences and
    candidates; `differs` the positions where the read's plate differs from the entry. All three
    came after version 1's first alerts: a message without them decodes as an alert with
    evidence -1 (not known) and no positions.
    """

    alert_id: str
    read: Read
    hotlist: str
    entry: str
    match_kind: str
    score: float
    priority: int = 2
    reason: str = ""
    case_number: str = ""
    time: float = 0.0
    verified: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    v: int = SCHEMA_VERSION
    tier: str = "alert"
    evidence: float = -1.0
    differs: tuple[int, ...] = ()
