"""pw.cameras: the camera definitions, a compacted topic keyed by camera id.

Schema v1: a msgpack map of the fields of `CameraSpec` (platewatch.engine.config.camera, the one
camera model) plus `v: 1`; a tombstone (empty value) removes the camera. The database's camera
list stores the same bytes. Decoding keeps forward compatibility: fields a newer producer adds
are ignored, while a value the model refuses is a `CodecError` (the agent quarantines it).
"""

from __future__ import annotations

from pydantic import ValidationError

from platewatch.engine.config.camera import CameraSpec

from .envelope import pack_map, unpack_map
from .errors import CodecError

CAMERA_VERSION = 1
#: Fields added to v1 later (a camera's position): left out while unset, so a camera without one
#: encodes to the bytes it always did, and an older reader ignores them when set.
_LATER_FIELDS = ("latitude", "longitude", "address", "heading")


def encode_spec(spec: CameraSpec) -> bytes:
    fields = spec.model_dump()
    for name in _LATER_FIELDS:
        if fields.get(name) in (None, ""):
            fields.pop(name, None)
    return pack_map({**fields, "v": CAMERA_VERSION})


def decode_spec(data: bytes) -> CameraSpec:
    obj = unpack_map(data, CAMERA_VERSION)
    try:
        return CameraSpec(**{k: v for k, v in obj.items() if k in CameraSpec.model_fields})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CodecError(f"bad camera definition: {problems}") from None
