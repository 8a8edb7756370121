"""Capture: camera streams in, decoded and sampled frames out, and the loop that turns them into reads.

`async for frame in source` is the one interface (RTSP, MJPEG and files through FFmpeg in
`av_source`, WebRTC/WHEP in `whep`); `CameraRunner` drives a source through recognition and the
tracker (docs/streams.md).
"""

from .frame import Frame
from .health import CameraHealth
from .source import Source, StreamEnded, StreamStalled
from .urls import expand_credentials

__all__ = [
    "CameraHealth",
    "Frame",
    "Source",
    "StreamEnded",
    "StreamStalled",
    "expand_credentials",
]
