"""Every check on input images, in one place: bytes are decoded here and frames validated here.

Why one module: recognition is fed by cameras, edge gateways and users' uploads, so its input is
untrusted. A corrupt JPEG, a decompression bomb or an array of the wrong dtype must end as a
`VisionError` with a message an operator can act on, never as an OpenCV assertion, a silently
half-grey image, or an out-of-memory kill. Sizes are read from the file header before any pixel is
decoded, so a gigantic image costs nothing to refuse.
"""

from __future__ import annotations

import struct
from typing import Final, cast

import cv2
import numpy as np

from .types import Image, VisionError

#: Largest side accepted: 8K (7680x4320) and 8192-wide sensors pass, anything bigger is refused.
MAX_SIDE: Final = 8192
#: Largest pixel count accepted (8192x4608, a little over 8K UHD).
MAX_PIXELS: Final = 8192 * 4608
#: Smallest side accepted: below this no plate can be read and letterboxing degenerates.
MIN_SIDE: Final = 16
#: Largest encoded image accepted, before any parsing.
MAX_BYTES: Final = 64 * 1024 * 1024

_JPEG_MAGIC: Final = b"\xff\xd8\xff"
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, extended, progressive, lossless, …); not DHT/JPG/DAC.
_SOF_MARKERS: Final = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_EOI: Final = b"\xff\xd9"
_SOS: Final = 0xDA


def _check_size(width: int, height: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise VisionError(f"{what} has zero size ({width}x{height})")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise VisionError(f"{what} is too small ({width}x{height}); the smallest side accepted is {MIN_SIDE}")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise VisionError(
            f"{what} is too large ({width}x{height}); at most {MAX_SIDE} pixels a side and "
            f"{MAX_PIXELS / 1e6:.1f} megapixels are accepted: downscale it first"
        )


def _jpeg_header(data: bytes) -> tuple[int, int, int]:
    """(width, height, offset of the first scan) of a JPEG, walking its marker segments."""
    pos = 2
    size: tuple[int, int] | None = None
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise VisionError("corrupt JPEG: marker segments are damaged")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            raise VisionError("corrupt JPEG: a segment has an impossible length")
        if marker in _SOF_MARKERS:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack_from(">HH", data, pos + 5)
            size = (width, height)
        if marker == _SOS:
            if size is None:
                raise VisionError("corrupt JPEG: image data before the frame header")
            return size[0], size[1], pos
        pos += 2 + length
    raise VisionError("truncated JPEG: the file ends before the image data")


def _png_header(data: bytes) -> tuple[int, int]:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise VisionError("truncated or corrupt PNG: no image header")
    width, height = struct.unpack_from(">II", data, 16)
    return int(width), int(height)


def decode_image(data: bytes | bytearray | memoryview) -> Image:
    """Decode JPEG or PNG bytes into a BGR uint8 frame, or raise `VisionError` saying why not.

    Truncation is checked explicitly: libjpeg "decodes" a truncated JPEG into an image whose missing
    part is grey, which would be read as if it were a real frame.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise VisionError(f"expected image bytes, got {type(data).__name__}")
    raw = bytes(data)
    if not raw:
        raise VisionError("empty image: no bytes")
    if len(raw) > MAX_BYTES:
        raise VisionError(
            f"image file too large ({len(raw) / 2**20:.0f} MiB; at most {MAX_BYTES // 2**20} MiB)"
        )
    if raw.startswith(_JPEG_MAGIC):
        kind = "JPEG"
        width, height, scan = _jpeg_header(raw)
        _check_size(width, height, kind)
        # The end-of-image marker cannot occur inside entropy-coded data (0xFF is stuffed), so
        # its absence after the first scan means the file was cut short.
        if raw.rfind(_EOI, scan) < 0:
            raise VisionError("truncated JPEG: no end-of-image marker after the image data")
    elif raw.startswith(_PNG_MAGIC):
        kind = "PNG"
        width, height = _png_header(raw)
        _check_size(width, height, kind)
        if raw.rfind(b"IEND", len(raw) - 64) < 0:
            raise VisionError("truncated PNG: no end chunk")
    else:
        raise VisionError(f"not a JPEG or PNG image (starts with {raw[:8].hex()})")
    buf = np.frombuffer(raw, dtype=np.uint8)
    try:
        frame = cast(Image | None, cv2.imdecode(buf, cv2.IMREAD_COLOR))
    except cv2.error as exc:
        raise VisionError(f"corrupt {kind}: {exc.msg.strip() or 'cannot decode'}") from None
    if frame is None:
        raise VisionError(f"corrupt {kind}: the image data cannot be decoded")
    if frame.shape[:2] != (height, width):
        raise VisionError(f"corrupt {kind}: header says {width}x{height}, data decoded differently")
    return frame


def validate_image(frame: object) -> Image:
    """Check a frame handed in as an array; return it as a BGR uint8 (H, W, 3) array.

    Grey frames, (H, W) or (H, W, 1), are accepted and converted, since infrared ALPR cameras
    deliver monochrome images; any other channel count is refused rather than guessed at (BGRA vs
    RGBA cannot be told apart). A frame with non-contiguous rows is copied once, because OpenCV and
    OpenVINO need contiguous memory.
    """
    if not isinstance(frame, np.ndarray):
        raise VisionError(f"expected a numpy array or image bytes, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise VisionError(f"expected a uint8 image, got dtype {frame.dtype} (convert with .astype(np.uint8))")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        _check_size(frame.shape[1], frame.shape[0], "frame")
        return cast(Image, cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    if frame.ndim != 3:
        raise VisionError(f"expected an (H, W, 3) BGR image, got shape {frame.shape}")
    if frame.shape[2] != 3:
        raise VisionError(
            f"expected 3 colour channels (BGR), got {frame.shape[2]} "
            "(convert BGRA/RGBA with cv2.cvtColor first)"
        )
    _check_size(frame.shape[1], frame.shape[0], "frame")
    if not frame.flags.c_contiguous:
        frame = np.ascontiguousarray(frame)
    return frame


def as_image(image: object) -> Image:
    """Bytes are decoded, arrays validated: the one entry point the pipeline calls."""
    if isinstance(image, bytes | bytearray | memoryview):
        return decode_image(image)
    return validate_image(image)
