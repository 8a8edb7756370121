"""pw.frames: JPEG frames pushed by edge gateways that cannot run recognition themselves.

Schema v1, key camera_id: a msgpack map `{v: 1, camera_id, captured_at, jpeg}` (captured_at in
float seconds since the epoch, on the gateway's clock). The input is untrusted, so decoding refuses
with a reason (`FrameRejected`, whose `kind` is the metric label) rather than guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .envelope import MessageTooLarge, pack_map, unpack_map
from .errors import CodecError

FRAME_VERSION = 1
#: Largest envelope accepted: a 4K JPEG at high quality is ~3 MB.
MAX_FRAME_BYTES = 8 * 1024 * 1024


class FrameRejected(CodecError):
    """An edge frame that is refused; `kind` is the metric label (oversize, envelope, image)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class EdgeFrame:
    camera_id: str
    captured_at: float
    jpeg: bytes


def encode_edge_frame(frame: EdgeFrame) -> bytes:
    return pack_map(
        {
            "v": FRAME_VERSION,
            "camera_id": frame.camera_id,
            "captured_at": frame.captured_at,
            "jpeg": frame.jpeg,
        }
    )


def decode_edge_frame(data: bytes, max_bytes: int = MAX_FRAME_BYTES) -> EdgeFrame:
    """The frame in `data`; its JPEG is not looked at here (recognition decodes it)."""
    try:
        obj = unpack_map(data, FRAME_VERSION, max_bytes)
    except MessageTooLarge as exc:
        raise FrameRejected("oversize", exc.reason) from None
    except CodecError as exc:
        raise FrameRejected("envelope", exc.reason) from None
    camera_id, captured_at, jpeg = obj.get("camera_id"), obj.get("captured_at"), obj.get("jpeg")
    if not isinstance(camera_id, str) or not camera_id:
        raise FrameRejected("envelope", "frame.camera_id must be a non-empty string")
    if (
        not isinstance(captured_at, int | float)
        or isinstance(captured_at, bool)
        or not math.isfinite(captured_at)
    ):
        raise FrameRejected("envelope", "frame.captured_at must be a finite number")
    if not isinstance(jpeg, bytes) or not jpeg:
        raise FrameRejected("envelope", "frame.jpeg must be bytes")
    return EdgeFrame(camera_id, float(captured_at), jpeg)
