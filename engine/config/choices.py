"""Every closed set of values a setting, a camera definition or a command option may take.

Each set is written once, as a `Literal` type (what pydantic validates and mypy checks) and, where
code needs to list or test the values at run time, as the tuple of that type's values. The
settings, the camera definitions on pw.cameras, vision, the benches and the CLI all import them
from here, so a value added for a new region or device is accepted everywhere at once.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

#: Plate format rules; `auto` tries each region's rules and keeps the best-scoring reading.
Region = Literal["us", "eu", "br", "auto"]
REGIONS: Final[tuple[Region, ...]] = get_args(Region)

#: OpenVINO devices; `AUTO` lets OpenVINO choose.
Device = Literal["AUTO", "CPU", "GPU", "NPU"]
DEVICES: Final[tuple[Device, ...]] = get_args(Device)

#: Precisions the inference runtime runs.
Precision = Literal["f32", "bf16", "int8"]
PRECISIONS: Final[tuple[Precision, ...]] = get_args(Precision)
#: The `vision.precision` setting: a precision, or `default` (whichever this CPU runs faster).
PrecisionSetting = Literal["default", Precision]

#: When recognition re-detects each plate zoomed in and reads it from three crops.
Thorough = Literal["single", "always", "never"]
THOROUGH: Final[tuple[Thorough, ...]] = get_args(Thorough)

#: A camera's direction of travel; passes going the other way are ignored.
Direction = Literal["any", "left", "right", "towards", "away"]
DIRECTIONS: Final[tuple[Direction, ...]] = get_args(Direction)

RtspTransport = Literal["tcp", "udp"]
RTSP_TRANSPORTS: Final[tuple[RtspTransport, ...]] = get_args(RtspTransport)

#: How far OCR confusions may stretch a hotlist match.
Fuzzy = Literal["off", "strict", "lenient"]
FUZZY_LEVELS: Final[tuple[Fuzzy, ...]] = get_args(Fuzzy)

#: Broker implementations; tansu turns on workarounds for its defects.
BrokerKind = Literal["kafka", "tansu"]
#: The `services.broker_kind` setting: an implementation, or `auto` (detected on connecting).
BrokerKindSetting = Literal["auto", BrokerKind]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def one_of(values: tuple[str, ...]) -> str:
    """`a, b or c`: how an error message lists the values a choice allows."""
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"
