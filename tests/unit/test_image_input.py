"""Bad input never reaches OpenCV or OpenVINO: each case ends as a VisionError that says why."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from platewatch.engine.vision.image import MAX_SIDE, as_image, decode_image, validate_image
from platewatch.engine.vision.types import VisionError


def _encode(ext: str, width: int = 64, height: int = 48) -> bytes:
    img = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims a size (no pixel data needed: the size check comes first)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def _jpeg_with_size(width: int, height: int) -> bytes:
    """A real small JPEG with its frame header patched to claim another size."""
    data = bytearray(_encode(".jpg"))
    pos = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, pos + 5, height, width)
    return bytes(data)


def test_good_jpeg_and_png_decode() -> None:
    for ext in (".jpg", ".png"):
        frame = decode_image(_encode(ext))
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello world, not an image", "not a JPEG or PNG"),
        (_encode(".jpg")[:-300], "truncated JPEG"),
        (_encode(".jpg")[:20], "truncated JPEG"),
        (_encode(".png")[:-40], "truncated PNG"),
        (_encode(".png")[:20], "PNG"),
        (_encode(".png")[:60] + b"\x00" * 200 + b"IEND\xaeB`\x82", "corrupt PNG"),
        (b"\xff\xd8\xff" + b"\x00" * 100, "corrupt JPEG"),
        (_png_header_only(0, 0), "zero size"),
        (_png_header_only(100_000, 100_000), "too large"),
        (_png_header_only(MAX_SIDE + 1, 100), "too large"),
        (_jpeg_with_size(60_000, 60_000), "too large"),
        (_png_header_only(4, 4), "too small"),
    ],
    ids=[
        "empty",
        "garbage",
        "truncated-jpeg",
        "jpeg-header-only",
        "truncated-png",
        "png-signature-only",
        "corrupt-png-data",
        "corrupt-jpeg-markers",
        "zero-size",
        "gigantic-png",
        "too-wide",
        "gigantic-jpeg",
        "tiny",
    ],
)
def test_bad_bytes_raise_vision_error(data: bytes, message: str) -> None:
    with pytest.raises(VisionError, match=message):
        decode_image(data)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("not an image", "expected a numpy array"),
        (None, "expected a numpy array"),
        (np.zeros((0, 0, 3), np.uint8), "zero size"),
        (np.zeros((480, 0, 3), np.uint8), "zero size"),
        (np.zeros((480, 640, 3), np.float32), "dtype float32"),
        (np.zeros((480, 640, 3), np.uint16), "dtype uint16"),
        (np.zeros((480, 640, 4), np.uint8), "got 4"),
        (np.zeros((480, 640, 2), np.uint8), "got 2"),
        (np.zeros((2, 480, 640, 3), np.uint8), "shape"),
        (np.zeros(640, np.uint8), "shape"),
        (np.zeros((MAX_SIDE + 8, 16, 3), np.uint8), "too large"),
    ],
    ids=[
        "str",
        "none",
        "empty",
        "zero-width",
        "float",
        "uint16",
        "bgra",
        "two-channels",
        "batch",
        "1d",
        "too-tall",
    ],
)
def test_bad_arrays_raise_vision_error(frame: object, message: str) -> None:
    with pytest.raises(VisionError, match=message):
        validate_image(frame)


def test_grey_frames_become_bgr() -> None:
    for grey in (np.zeros((100, 200), np.uint8), np.zeros((100, 200, 1), np.uint8)):
        assert validate_image(grey).shape == (100, 200, 3)


def test_strided_frame_is_made_contiguous_and_good_frame_is_not_copied() -> None:
    frame = np.zeros((200, 400, 3), np.uint8)
    assert validate_image(frame) is frame
    assert validate_image(frame[:, ::2]).flags.c_contiguous


def test_as_frame_accepts_bytes_and_arrays_and_rejects_others() -> None:
    assert as_image(bytearray(_encode(".png"))).shape == (48, 64, 3)
    assert as_image(memoryview(_encode(".jpg"))).shape == (48, 64, 3)
    with pytest.raises(VisionError, match="expected a numpy array"):
        as_image(["a", "list"])
