"""Groups a camera's per-frame plate reads into passes and emits provisional and final reads.

A vehicle crossing the view is read in dozens of frames. Alerting wants the first confident
reading at once (a provisional read), storage wants one best reading per vehicle (the final read
when the pass ends), and nobody wants the same pass twice. The tracker is pure (no I/O, no clock):
the caller hands it each sampled frame's reads with the frame's capture time, and closes passes by
calling `update` with later times or `flush` at the end of a stream, so tests drive it exactly.

Association is greedy over (track, read) pairs, best first, scored by the overlap of the read's box
with where the track's motion predicts the plate, plus the similarity of the texts; a pair
qualifies on overlap, or on being close with a similar text (a fast car that jumped past its box,
or one whose picture moved on less than predicted: along the way from its last box to the
predicted one). A read left over with the very text of a pass left over continues it wherever it
is, as the same text within `dedupe_s` of a finalised pass is that pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from platewatch.codecs import Read
from platewatch.engine.plates import edit_distance
from platewatch.engine.vision.boxes import iou
from platewatch.engine.vision.types import Box, Image, Observation, VisionError
from platewatch.engine.vision.vehicles import VehicleLook, read_fields, vote_looks

from .direction import travel_along
from .geometry import along_path, centre, centre_distance, shifted, text_similarity
from .ids import time_ordered_id
from .vote import Vote, vote

JpegEncoder = Callable[[Image], bytes | None]
#: The look of the vehicle carrying a plate (box) in a frame, or None (`vision.vehicles.VehicleDescriber`).
DescribeVehicle = Callable[[Image, Box], VehicleLook | None]
#: Frames of a pass whose vehicle is described (the first read's, then each better read's): a
#: detector run each, voted so one frame lit by brake lights does not decide the colour.
MAX_LOOKS = 3

#: Namespace of pass and read ids: uuid5 makes them a function of camera, time and box, so a
#: replay of the same frames yields the same ids and the store's idempotent write absorbs it.
PASS_NAMESPACE = uuid.UUID("6f1d3c2e-6a38-5b8e-9a41-7c0b5e2d9f10")
#: Association score of a read that continues a pass by its text alone: below every pair that
#: qualifies by motion (those score 0 or more), so it only takes a pass and a read left over.
SAME_TEXT_SCORE = -1.0
#: Sightings (capture time, box) a pass keeps for its direction: past twice this many, every other
#: one is dropped, so a long pass keeps its whole span, thinned.
MAX_PATH = 64
#: How far beside the path from a pass's last box to its predicted one (in plate widths) a similar
#: text continues it: a picture that moved on less than predicted moved the plate along its way,
#: not sideways into the next lane.
PATH_WIDTHS = 1.0


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Thresholds of association and emission (defaults suit 5-15 fps sampling)."""

    max_gap_s: float = 1.0
    """A pass ends when its plate has not been read for this long."""
    min_iou: float = 0.05
    """Least overlap of a read with a track's predicted box to continue it."""
    max_jump: float = 2.5
    """Or: centre within this many plate widths of the prediction and a similar text."""
    min_similarity: float = 0.5
    provisional_min_reads: int = 2
    provisional_min_confidence: float = 0.7
    instant_confidence: float = 0.95
    """A single read this confident is provisional at once (the fastest alert)."""
    final_min_reads: int = 1
    final_min_confidence: float = 0.3
    """Passes whose vote stays below this (or shorter than `final_min_reads`) emit nothing."""
    dedupe_s: float = 3.0
    """A new pass that starts with the text of a pass finalised this recently is the same vehicle;
    so is one starting within one character of it where that pass's plate was (or was heading).
    Also the longest stall of the frames (a starved worker) across which a pass is continued."""
    max_reads_per_pass: int = 200
    """Reads kept for the vote (the first ones and the best ones survive; bounds memory)."""
    direction: str = "any"
    """Expected direction of travel: any, left, right (plate moves across the image), towards,
    away (plate grows or shrinks). Passes going the other way (the far carriageway) emit nothing;
    with a direction set, the provisional read waits until the motion shows which way it goes."""


@dataclass(slots=True)
class _Track:
    pass_id: str
    first_seen: float
    last_seen: float
    box: Box
    velocity: tuple[float, float] = (0.0, 0.0)
    reads: list[Observation] = field(default_factory=list)
    best: Observation | None = None
    best_time: float = 0.0
    best_crop: Image | None = None
    best_frame: Image | None = None
    seen: int = 0
    first_box: Box | None = None
    provisional_sent: bool = False
    duplicate: bool = False
    duplicate_of: str = ""
    looks: list[VehicleLook] = field(default_factory=list)
    path: list[tuple[float, Box]] = field(default_factory=list)  # (capture time, box): the direction

    def predicted(self, t: float) -> Box:
        dt = t - self.last_seen
        return shifted(self.box, self.velocity[0] * dt, self.velocity[1] * dt)


@dataclass(frozen=True, slots=True)
class _Closed:
    """Where and when a finalised pass's plate was last seen, for telling its return from a new car."""

    at: float
    box: Box
    velocity: tuple[float, float]

    def near(self, box: Box, t: float, max_jump: float) -> bool:
        """`box` is where the plate was, or where its motion had taken it by `t`."""
        dt = t - self.at
        ahead = shifted(self.box, self.velocity[0] * dt, self.velocity[1] * dt)
        return min(centre_distance(self.box, box), centre_distance(ahead, box)) <= max_jump


def _crop(frame: Image, box: Box, grow: float = 1.3) -> Image:
    cx, cy = centre(box)
    hw, hh = box.w * grow / 2, box.h * grow / 2
    height, width = frame.shape[:2]
    x0, x1 = max(0, int(cx - hw)), min(width, int(cx + hw))
    y0, y1 = max(0, int(cy - hh)), min(height, int(cy + hh))
    return frame[y0:y1, x0:x1].copy()


def _distinct(reads: Sequence[Observation], overlap: float = 0.6) -> list[Observation]:
    """One read per plate: a detector that boxes a plate twice in a frame would start two passes."""
    kept: list[Observation] = []
    for read in sorted(reads, key=lambda r: -r.confidence):
        if read.text and all(iou(read.box, k.box) < overlap for k in kept):
            kept.append(read)
    return kept


class Tracker:
    """One camera's tracker. Not thread-safe: feed it from one task (or one thread at a time)."""

    def __init__(
        self,
        camera_id: str,
        config: TrackerConfig | None = None,
        encode_jpeg: JpegEncoder | None = None,
        region: str = "",
        describe_vehicle: DescribeVehicle | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.describe_vehicle = describe_vehicle
        self.config = config or TrackerConfig()
        self.region = region
        self._encode = encode_jpeg
        self._tracks: list[_Track] = []
        self._recent: dict[str, _Closed] = {}  # voted text -> its pass, finalised lately
        self._last_t: float | None = None  # capture time of the latest frame fed
        self._started: dict[str, float] = {}  # pass id -> first read's capture time (recent passes)
        self._frame_size: tuple[int, int] | None = None  # (width, height) of the latest frame

    @property
    def open_passes(self) -> int:
        return len(self._tracks)

    def started_at(self, pass_id: str) -> float | None:
        """Capture time of a recent pass's first read: alert latency is measured from it."""
        return self._started.get(pass_id)

    def update(self, reads: Sequence[Observation], t: float, frame: Image | None = None) -> list[Read]:
        """Feed one frame's reads (captured at `t`); returns the reads to emit now.

        After a stall (no frame fed for longer than `max_gap_s`: a starved worker skipped frames),
        the open passes are not ended before this frame is matched against them: nobody looked for
        their plates meanwhile, and ending them first split a pass in two (about one in 50 on a
        starved machine, stored twice). What this frame does not continue ends after it."""
        cfg = self.config
        if frame is not None:
            self._frame_size = (frame.shape[1], frame.shape[0])
        stalled = self._last_t is not None and t - self._last_t > cfg.max_gap_s
        self._last_t = t if self._last_t is None else max(self._last_t, t)
        out = self._expire(t, keep_s=cfg.dedupe_s if stalled else cfg.max_gap_s)
        assigned = self._associate(reads, t)
        for index, (read, track) in enumerate(assigned):
            if track is None:
                track = self._start(read, t, index)
            self._observe(track, read, t, frame)
            if self._dedupe(track, t):
                continue
            provisional = self._maybe_provisional(track)
            if provisional is not None:
                out.append(provisional)
        if stalled:
            out = self._expire(t) + out
        return out

    def flush(self) -> list[Read]:
        """End every open pass (stream stopped or camera revoked); returns their final reads."""
        out = [r for track in self._tracks if (r := self._final(track)) is not None]
        self._tracks.clear()
        return out

    # -- association ---------------------------------------------------------------------------

    def _associate(self, reads: Sequence[Observation], t: float) -> list[tuple[Observation, _Track | None]]:
        """Pair this frame's reads with the open passes: by motion first (overlap with where the
        pass's motion puts the plate, or a similar text on its way there), then by the same text.

        The same text continues a pass wherever it is read, as it does a pass finalised within
        `dedupe_s`: after a stall the frames can jump on further than any motion predicts (a
        decoder catching up emits one frame in several), and a new pass started beside the open
        one would be stored twice, the open one not being finalised yet to be deduplicated."""
        cfg = self.config
        reads = _distinct(reads)
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(self._tracks):
            predicted = track.predicted(t)
            last_text = track.reads[-1].text if track.reads else ""
            texts = {last_text, track.best.text if track.best is not None else last_text}
            for ri, read in enumerate(reads):
                overlap = iou(predicted, read.box)
                similar = text_similarity(last_text, read.text)
                path = along_path(track.box, predicted, read.box)
                near = centre_distance(predicted, read.box) <= cfg.max_jump or (
                    path is not None and path <= PATH_WIDTHS
                )
                if overlap >= cfg.min_iou or (near and similar >= cfg.min_similarity):
                    pairs.append((overlap + 0.5 * similar, ti, ri))
                elif read.text in texts:
                    pairs.append((SAME_TEXT_SCORE, ti, ri))
        pairs.sort(key=lambda p: -p[0])
        used_tracks: set[int] = set()
        matched: dict[int, _Track] = {}
        for _, ti, ri in pairs:
            if ti in used_tracks or ri in matched:
                continue
            used_tracks.add(ti)
            matched[ri] = self._tracks[ti]
        return [(read, matched.get(ri)) for ri, read in enumerate(reads) if read.text]

    def _start(self, read: Observation, t: float, index: int) -> _Track:
        b = read.box
        key = f"{self.camera_id}|{t:.6f}|{b.x},{b.y},{b.w},{b.h}|{index}"
        track = _Track(
            pass_id=str(uuid.uuid5(PASS_NAMESPACE, key)), first_seen=t, last_seen=t, box=b, first_box=b
        )
        self._tracks.append(track)
        self._started[track.pass_id] = t
        if len(self._started) > 1000:  # bounded: only recent passes are asked about
            del self._started[next(iter(self._started))]
        return track

    def _observe(self, track: _Track, read: Observation, t: float, frame: Image | None) -> None:
        if track.reads and t > track.last_seen:
            (px, py), (nx, ny) = centre(track.box), centre(read.box)
            dt = t - track.last_seen
            vx, vy = (nx - px) / dt, (ny - py) / dt
            track.velocity = (0.5 * track.velocity[0] + 0.5 * vx, 0.5 * track.velocity[1] + 0.5 * vy)
        track.box, track.last_seen = read.box, max(track.last_seen, t)
        track.reads.append(read)
        track.path.append((t, read.box))
        if len(track.path) > 2 * MAX_PATH:
            track.path = track.path[::2]  # 129 sightings: the first and the last stay
        track.seen += 1
        if len(track.reads) > self.config.max_reads_per_pass:
            # keep the first read (the pass's start) and drop the weakest of the rest
            weakest = min(range(1, len(track.reads)), key=lambda i: track.reads[i].confidence)
            del track.reads[weakest]
        if track.best is None or read.confidence > track.best.confidence:
            track.best, track.best_time = read, t
            if frame is not None:
                track.best_crop = _crop(frame, read.box)
                track.best_frame = frame
                self._look(track, frame, read.box)

    def _look(self, track: _Track, frame: Image, box: Box) -> None:
        if self.describe_vehicle is None or len(track.looks) >= MAX_LOOKS:
            return
        try:
            look = self.describe_vehicle(frame, box)
        except VisionError:  # a frame the vehicle networks cannot use costs its look, not the pass
            return
        if look is not None:
            track.looks.append(look)

    # -- emission ------------------------------------------------------------------------------

    def _expire(self, t: float, keep_s: float | None = None) -> list[Read]:
        """End the passes not seen for `keep_s` (`max_gap_s` unless the frames stalled)."""
        cfg = self.config
        keep_s = cfg.max_gap_s if keep_s is None else keep_s
        out: list[Read] = []
        alive: list[_Track] = []
        for track in self._tracks:
            if t - track.last_seen > keep_s:
                read = self._final(track)
                if read is not None:
                    out.append(read)
            else:
                alive.append(track)
        self._tracks = alive
        self._recent = {k: v for k, v in self._recent.items() if t - v.at <= cfg.dedupe_s}
        return out

    def _dedupe(self, track: _Track, t: float) -> bool:
        """Mark a pass that re-reads a just-finalised plate (the car stopped, was hidden a moment, or
        the frames stalled and its pass ended early).

        The same text is the same vehicle. A text one character off is a misread of it only where
        the plate was, or where its motion was taking it: a second car of a fleet with the next
        plate number enters the view where the first entered, not where the first left it."""
        if not track.duplicate and not track.provisional_sent and len(track.reads) == 1:
            read, cfg = track.reads[0], self.config
            for text, closed in self._recent.items():
                if t - closed.at > cfg.dedupe_s:
                    continue
                same = text == read.text
                if same or (edit_distance(text, read.text) <= 1 and closed.near(read.box, t, cfg.max_jump)):
                    track.duplicate, track.duplicate_of = True, text
                    break
        return track.duplicate

    def _heading_ok(self, track: _Track) -> bool | None:
        """Whether the pass moves the expected way: True, False, or None while it is not clear yet."""
        way = self.config.direction
        first = track.first_box
        if way == "any" or first is None:
            return True
        if way in ("left", "right"):
            dx = centre(track.box)[0] - centre(first)[0]
            dx = -dx if way == "left" else dx
            step = 0.3 * max(first.w, 1)
            return True if dx > step else False if dx < -step else None
        ratio = track.box.w / max(first.w, 1)
        ratio = 1 / ratio if way == "away" and ratio > 0 else ratio
        return True if ratio > 1.1 else False if ratio < 0.9 else None

    def _maybe_provisional(self, track: _Track) -> Read | None:
        cfg = self.config
        if track.provisional_sent or self._heading_ok(track) is not True:
            return None
        result = vote(track.reads)
        confident = (
            result.observations >= cfg.provisional_min_reads
            and result.confidence >= cfg.provisional_min_confidence
        ) or result.confidence >= cfg.instant_confidence
        if not confident:
            return None
        track.provisional_sent = True
        return self._read(track, result, provisional=True)

    def _final(self, track: _Track) -> Read | None:
        cfg = self.config
        if track.duplicate:
            closed = self._recent.get(track.duplicate_of)
            if closed is None or track.last_seen >= closed.at:  # still there
                self._recent[track.duplicate_of] = _Closed(track.last_seen, track.box, track.velocity)
            return None
        if self._heading_ok(track) is False:
            return None
        result = vote(track.reads)
        if result.observations < cfg.final_min_reads or result.confidence < cfg.final_min_confidence:
            return None
        self._recent[result.text] = _Closed(track.last_seen, track.box, track.velocity)
        return self._read(track, result, provisional=False)

    def _read(self, track: _Track, result: Vote, *, provisional: bool) -> Read:
        best = track.best or track.reads[-1]
        kind = "provisional" if provisional else "final"
        crop = overview = None
        if self._encode is not None:
            crop = self._encode(track.best_crop) if track.best_crop is not None else None
            overview = self._encode(track.best_frame) if track.best_frame is not None else None
        look = vote_looks(track.looks)
        direction, heading = travel_along(track.path or [(track.best_time, best.box)], self._frame_size)
        return Read(
            read_id=time_ordered_id(PASS_NAMESPACE, f"{track.pass_id}|{kind}", track.best_time),
            camera_id=self.camera_id,
            time=track.best_time,
            plate=result.text,
            confidence=max(0.0, min(1.0, result.confidence)),
            region=best.region or self.region,
            box=(best.box.x, best.box.y, best.box.w, best.box.h),
            char_confidences=result.char_confidences,
            candidates=result.candidates,
            frames=result.frames,
            track_length=track.seen,
            provisional=provisional,
            pass_id=track.pass_id,
            crop_jpeg=crop,
            overview_jpeg=overview,
            **read_fields(look),
            direction=direction,
            heading=heading,
        )
