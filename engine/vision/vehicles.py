"""The vehicle around a plate: where it is, and its colour (and body type, where it measures reliable).

Two Intel Open Model Zoo networks (Apache-2.0, models/LICENSES.md): `vehicle-detection-0202` finds
vehicles in a frame, `vehicle-attributes-recognition-barrier-0039` names the colour (7) and type (4)
of one vehicle crop. Used alone on the labelled US photos (tests/data/vehicles/us_labels.tsv, training
part) the network named the colour of 55 % and the type of 49 %: lit brake lights turn dark cars red,
silver goes white, SUVs become trucks. So the colour shown averages two heads fitted on the labelled
training photos (`vehicle_colour`: one over the network's colour probabilities for the crop and its
mirror image, one over the perceptual colours of the vehicle's painted body).

The type is measured too and kept with the probabilities, but not shown (`SHOW_TYPE`): neither the
network nor any head fitted on the training photos did better than always saying "car" (77 % there,
because most vehicles are cars), far from the 80 % that showing a type asks for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypedDict

import cv2
import numpy as np
import openvino as ov
from numpy.typing import NDArray
from openvino.preprocess import PrePostProcessor

from .image import validate_image
from .runtime import Mode, Runtime, get_runtime, model_path
from .types import Box, Image, VisionError
from .vehicle_colour import ColourModel, body_colour

VEHICLE_DETECTOR_MODEL: Final = "vehicle_det.xml"
VEHICLE_ATTRIBUTES_MODEL: Final = "vehicle_attr.xml"
COLOUR_CALIBRATION: Final = "vehicle_colour.json"
#: The network's classes, in its output order.
COLOURS: Final = ("white", "gray", "yellow", "red", "green", "blue", "black")
TYPES: Final = ("car", "bus", "truck", "van")
DETECTOR_SIDE: Final = 512
ATTRIBUTES_SIDE: Final = 72
#: Vehicles scoring below this are ignored. Every labelled US plate's vehicle scored above it.
MIN_VEHICLE_SCORE: Final = 0.3
#: A colour is shown only this sure (the two heads' mean probability, or a pass's vote). On the
#: 210 labelled training photos (us, eu, br), 10-fold, each fold fitted without it (three
#: shuffles): 30 % reached it and 91 % of those were right, against 71 % right over all (from 0.6:
#: 46 % shown, 85 % right; from 0.8: 15 %, 95 %). Chosen as the lowest whose colours shown are
#: right at least as often as the calibration it replaced showed them on the same photos (88.7 %):
#: a colour on a read is searched on, so one shown wrong hides the vehicle from a search by its
#: real colour. `models/training/fit_vehicle_colour.py` prints this table.
COLOUR_MIN_CONFIDENCE: Final = 0.7
#: Type is withheld: it measured no better than always answering "car" (module docstring).
SHOW_TYPE: Final = False

Probabilities = tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle found in a frame."""

    box: Box
    score: float


@dataclass(frozen=True, slots=True)
class VehicleLook:
    """What one frame (or a pass's frames) says about one vehicle. `colour`/`type` are None where
    not shown (`COLOUR_MIN_CONFIDENCE`, `SHOW_TYPE`); the probabilities are kept for voting."""

    colour: str | None
    colour_confidence: float
    colour_probs: Probabilities
    type: str | None
    type_confidence: float
    type_probs: Probabilities


def _float_model_file(runtime: Runtime, name: str) -> Path:
    """The FP16 file even at `precision: int8` (the attributes network ships without INT8 copy)."""
    if runtime.models_dir is not None and (runtime.models_dir / name).is_file():
        return runtime.models_dir / name
    return model_path(name)


def _u8_input(model: ov.Model) -> ov.Model:
    """Take uint8 NHWC BGR as it comes from OpenCV; the networks want float NCHW BGR 0..255."""
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32)
    return ppp.build()


def decode_vehicles(
    output: NDArray[np.float32], width: int, height: int, min_score: float = MIN_VEHICLE_SCORE
) -> list[Vehicle]:
    """The detector's [1, 1, 200, 7] rows (id, label, score, x0, y0, x1, y1 in 0..1) as frame boxes."""
    found = []
    for row in output.reshape(-1, 7):
        score = float(row[2])
        if score < min_score:
            continue
        x0, y0 = max(0, round(float(row[3]) * width)), max(0, round(float(row[4]) * height))
        x1, y1 = min(width, round(float(row[5]) * width)), min(height, round(float(row[6]) * height))
        if x1 > x0 and y1 > y0:
            found.append(Vehicle(Box(x0, y0, x1 - x0, y1 - y0), score))
    return sorted(found, key=lambda v: -v.score)


def vehicle_of(plate: Box, vehicles: Iterable[Vehicle]) -> Vehicle | None:
    """The vehicle that carries a plate: the most confident one whose box holds the plate's centre."""
    cx, cy = plate.x + plate.w / 2, plate.y + plate.h / 2
    holding = [
        v for v in vehicles if v.box.x <= cx <= v.box.x + v.box.w and v.box.y <= cy <= v.box.y + v.box.h
    ]
    return max(holding, key=lambda v: v.score, default=None)


def _clip(frame: Image, x0: float, y0: float, x1: float, y1: float) -> Image:
    """The part of a rectangle inside the frame (empty where none is; never a negative index)."""
    height, width = frame.shape[:2]
    top, bottom = min(height, max(0, int(y0))), min(height, max(0, int(y1)))
    left, right = min(width, max(0, int(x0))), min(width, max(0, int(x1)))
    return frame[top:bottom, left:right]


class VehicleReader:
    """Vehicle detection and description for one image at a time. Thread-safe (a request per call)."""

    def __init__(self, runtime: Runtime | None = None, mode: Mode = Mode.LATENCY) -> None:
        self.runtime = runtime or get_runtime()
        core = self.runtime.core
        detector = core.read_model(self.runtime.model_file(VEHICLE_DETECTOR_MODEL))
        self.detector = self.runtime.compile(_u8_input(detector), mode)
        attributes = core.read_model(_float_model_file(self.runtime, VEHICLE_ATTRIBUTES_MODEL))
        self.attributes = self.runtime.compile(_u8_input(attributes), Mode.LATENCY)
        self._colour_out = self.attributes.output("color")
        self._type_out = self.attributes.output("type")
        # Absent only while the colour model is being fitted (training/fit_vehicle_colour.py).
        try:
            path = _float_model_file(self.runtime, COLOUR_CALIBRATION)
        except VisionError:
            self.calibration: ColourModel | None = None
        else:
            self.calibration = ColourModel.load(path, len(COLOURS))
        self._local = threading.local()

    def _request(self, compiled: ov.CompiledModel, name: str) -> ov.InferRequest:
        request: ov.InferRequest | None = getattr(self._local, name, None)
        if request is None:
            request = compiled.create_infer_request()
            setattr(self._local, name, request)
        return request

    def detect(self, frame: Image) -> list[Vehicle]:
        """Vehicles in a BGR frame, most confident first."""
        frame = validate_image(frame)
        height, width = frame.shape[:2]
        blob = cv2.resize(frame, (DETECTOR_SIDE, DETECTOR_SIDE), interpolation=cv2.INTER_LINEAR)[None]
        output = self._request(self.detector, "detector").infer(blob)[0]
        return decode_vehicles(np.asarray(output), width, height)

    def network(self, crop: Image) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """The attributes network on a crop and its mirror image, averaged: (colour, type) probabilities."""
        colour = np.zeros(len(COLOURS), np.float32)
        kind = np.zeros(len(TYPES), np.float32)
        request = self._request(self.attributes, "attributes")
        for view in (crop, crop[:, ::-1]):
            blob = cv2.resize(
                np.ascontiguousarray(view), (ATTRIBUTES_SIDE,) * 2, interpolation=cv2.INTER_AREA
            )
            result = request.infer(blob[None])
            colour += np.asarray(result[self._colour_out]).reshape(-1) / 2
            kind += np.asarray(result[self._type_out]).reshape(-1) / 2
        return colour, kind

    def features(
        self, frame: Image, vehicle: Box, plate: Box | None
    ) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.float32]]:
        """The colour model's inputs for one vehicle (the network's colour probabilities, the body's
        colours: `vehicle_colour.body_colour`) and the network's type probabilities."""
        crop = _clip(frame, vehicle.x, vehicle.y, vehicle.x + vehicle.w, vehicle.y + vehicle.h)
        if crop.size == 0:
            raise VisionError("vehicle box outside the frame")
        colour, kind = self.network(crop)
        return colour, body_colour(frame, vehicle, plate), kind

    def describe(self, frame: Image, vehicle: Box, plate: Box | None = None) -> VehicleLook:
        """Colour (`vehicle_colour.ColourModel`) and type (withheld, `SHOW_TYPE`) of one vehicle."""
        network, body, kind = self.features(frame, vehicle, plate)
        if self.calibration is None:
            colour = network.astype(np.float64)
        else:
            colour = self.calibration.probabilities(network, body)
        return look_from(colour, kind)


def vote_looks(looks: Sequence[VehicleLook]) -> VehicleLook | None:
    """One pass's colour and type from its frames: the mean of their probabilities, so a frame
    lit by brake lights or glare is outvoted by the rest."""
    if not looks:
        return None
    colour = np.mean([look.colour_probs for look in looks], axis=0)
    return look_from(colour, np.mean([look.type_probs for look in looks], axis=0))


class LookFields(TypedDict):
    colour: str
    colour_confidence: float
    vehicle_type: str


def read_fields(look: VehicleLook | None) -> LookFields:
    """A pass's look as the `Read` fields that carry it (empty where not shown or not seen)."""
    if look is None:
        return LookFields(colour="", colour_confidence=0.0, vehicle_type="")
    return LookFields(
        colour=look.colour or "",
        colour_confidence=round(look.colour_confidence, 3),
        vehicle_type=look.type or "",
    )


def look_from(colour: NDArray[np.floating], kind: NDArray[np.floating]) -> VehicleLook:
    """Probabilities to a look: the likeliest colour where it is sure enough, the type where shown."""
    best, best_type = int(colour.argmax()), int(kind.argmax())
    return VehicleLook(
        colour=COLOURS[best] if colour[best] >= COLOUR_MIN_CONFIDENCE else None,
        colour_confidence=float(colour[best]),
        colour_probs=tuple(float(p) for p in colour),
        type=TYPES[best_type] if SHOW_TYPE else None,
        type_confidence=float(kind[best_type]),
        type_probs=tuple(float(p) for p in kind),
    )


class VehicleDescriber:
    """What the tracker asks of a frame: the look of the vehicle carrying a plate, or None.

    Why a callable apart from `VehicleReader`: streams describe a pass's vehicle in a few of its
    frames (the first, then the better reads), not every frame, so the cost is a detector run per
    described frame; and a frame where no vehicle holds the plate (cut off, a trailer) is no error.
    """

    def __init__(self, reader: VehicleReader) -> None:
        self.reader = reader

    def __call__(self, frame: Image, plate: Box) -> VehicleLook | None:
        vehicle = vehicle_of(plate, self.reader.detect(frame))
        if vehicle is None:
            return None
        return self.reader.describe(frame, vehicle.box, plate)


_describers: dict[tuple[int, Mode], VehicleDescriber] = {}
_describers_lock = threading.Lock()


def default_describer(runtime: Runtime | None = None, mode: Mode = Mode.LATENCY) -> VehicleDescriber:
    """One describer per runtime and detector mode (models compiled once per process, shared by
    its cameras)."""
    runtime = runtime or get_runtime()
    with _describers_lock:
        found = _describers.get((id(runtime), mode))
        if found is None:
            found = _describers[(id(runtime), mode)] = VehicleDescriber(VehicleReader(runtime, mode))
        return found
