"""Capture: camera streams in, decoded and sampled frames out, and the loop that turns them into reads.

`async for frame in source` is the one interface (RTSP, MJPEG and files through FFmpeg in
`av_source`, WebRTC/WHEP in `whep`); `CameraRunner` drives a source through recognition and the
tracker (docs/streams.md).
"""

from .frame import Frame
from .health import CameraHealth
from .source import Source, StreamEnded, StreamStalled
from .spec import CameraSpec, decode_spec, encode_spec
from .urls import CameraUrlError, SourceKind, display_url, expand_credentials, source_kind

__all__ = [
    "CameraHealth",
    "CameraSpec",
    "CameraUrlError",
    "Frame",
    "Source",
    "SourceKind",
    "StreamEnded",
    "StreamStalled",
    "decode_spec",
    "display_url",
    "encode_spec",
    "expand_credentials",
    "source_kind",
]
