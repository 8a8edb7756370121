"""Versioned msgpack message schemas and codecs (installed as `platewatch.codecs`).

Messages cross process and version boundaries (a worker may be older or newer than the
producer), so each carries a schema version `v`, decoding is strict, and anything that does
not decode becomes a `CodecError` that the agents send to `pw.deadletter` instead of crashing.

One module per topic: pw.reads and pw.alerts here (messages.py, msgpack_codec.py), pw.cameras in
`cameras`, pw.frames in `frames`, pw.deadletter in `deadletter`; `envelope` is the check they all
start from. `cameras` and `frames` are imported from their modules, so that importing this package
does not load the settings model that the camera schema is.
"""

from .deadletter import DeadLetter, decode_deadletter, encode_deadletter
from .errors import CodecError
from .messages import SCHEMA_VERSION, Alert, FrameReading, Read
from .msgpack_codec import decode_alert, decode_read, encode_alert, encode_read

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "CodecError",
    "DeadLetter",
    "FrameReading",
    "Read",
    "decode_alert",
    "decode_deadletter",
    "decode_read",
    "encode_alert",
    "encode_deadletter",
    "encode_read",
]
