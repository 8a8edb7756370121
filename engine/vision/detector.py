"""The plate detector: YOLOv8n from fastanpr 0.1.13 (AGPL-3.0), one class, run with OpenVINO.

The model takes a 640x640 letterboxed RGB image and returns [1, 5, 8400] (cx, cy, w, h, score
after sigmoid) with no NMS inside, so this module letterboxes, decodes, thresholds, runs NMS and
maps boxes back to the frame. Colour conversion, scaling to 0..1 and the HWC->CHW transpose are
folded into the compiled model (OpenVINO pre-processing): the frame is only resized once and
copied once into the letterbox canvas, which is handed to OpenVINO without a further copy.

Two paths: `detect(frame)` compiles for LATENCY (one image, answer fast), and `DetectorStream`
compiles for THROUGHPUT and keeps several frames in flight through an `AsyncInferQueue`, either
batched (`detect_many`) or awaited from asyncio without blocking the event loop (`detect_async`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
import openvino as ov
from numpy.typing import NDArray
from openvino.preprocess import ColorFormat, PrePostProcessor

from .image import validate_image
from .model_files import DETECTOR_INPUT_SIZE, DETECTOR_MODEL
from .runtime import Mode, Runtime, get_runtime
from .types import Box, Detection, Image

PAD_VALUE: Final = 114  # ultralytics' letterbox grey; the model was trained with it
#: Measured with the OCR on the openalpr sets: 0.15 instead of ultralytics' usual 0.25 finds 2 more
#: of the 119 US plates (recall 95.8 % vs 94.1 %; eu and br unchanged) and added no read outside
#: the labelled plates; a synthetic empty road gives nothing even at 0.02.
SCORE_THRESHOLD: Final = 0.15
NMS_THRESHOLD: Final = 0.45
MAX_DETECTIONS: Final = 32
#: The model's boxes are loose: against the openalpr labels (us, eu, br; 341 images) the median
#: box is 1.13x as wide and 1.27-1.5x as tall, centred on the plate. Shrinking by 1/1.14 and 1/1.4
#: about its centre raised the mean IoU with the labels from 0.63 to 0.74 (us), 0.80 (eu) and 0.83
#: (br), and IoU >= 0.5 from 81-87 % to 92-99 %. Crops for the OCR re-expand by the same factors.
TIGHTEN: Final = (1 / 1.14, 1 / 1.4)


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was fitted into the square input: scale, then offset by the padding."""

    scale: float
    pad_x: int
    pad_y: int
    width: int  # frame size, to clip boxes
    height: int


def letterbox(frame: Image, size: int = DETECTOR_INPUT_SIZE) -> tuple[NDArray[np.uint8], Letterbox]:
    """Resize keeping the aspect ratio and centre on a grey square canvas (uint8 BGR, NHWC, N=1).

    The resize writes a new image (unavoidable: the frame is larger than the input), and that
    image is copied once into the canvas; nothing else is copied on the way to OpenVINO.
    """
    height, width = frame.shape[:2]
    scale = min(size / width, size / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.full((1, size, size, 3), PAD_VALUE, dtype=np.uint8)
    # Bilinear, as ultralytics letterboxed the training images (INTER_AREA measured no better).
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas[0, pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return canvas, Letterbox(scale, pad_x, pad_y, width, height)


def decode(
    output: NDArray[np.float32],
    box: Letterbox,
    score_threshold: float = SCORE_THRESHOLD,
    nms_threshold: float = NMS_THRESHOLD,
    max_detections: int = MAX_DETECTIONS,
    tighten: tuple[float, float] = TIGHTEN,
) -> list[Detection]:
    """Turn the raw [1, 5, N] output into frame-space detections, best first.

    NMS runs on the model's own boxes; the kept boxes are then shrunk by `tighten` (see TIGHTEN).
    """
    pred = output.reshape(5, -1)
    keep = pred[4] >= score_threshold
    if not keep.any():
        return []
    cx, cy, w, h, scores = pred[:, keep]
    # Back to frame pixels: undo the padding, then the scale.
    cx, cy = (cx - box.pad_x) / box.scale, (cy - box.pad_y) / box.scale
    w, h = w / box.scale, h / box.scale
    rects = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
    chosen = cv2.dnn.NMSBoxes(rects.tolist(), scores.tolist(), score_threshold, nms_threshold)
    found = []
    for i in np.asarray(chosen, dtype=np.int64).reshape(-1)[:max_detections]:
        half_w, half_h = w[i] * tighten[0] / 2, h[i] * tighten[1] / 2
        x0, x1 = max(0, round(float(cx[i] - half_w))), min(box.width, round(float(cx[i] + half_w)))
        y0, y1 = max(0, round(float(cy[i] - half_h))), min(box.height, round(float(cy[i] + half_h)))
        if x1 > x0 and y1 > y0:
            found.append(Detection(box=Box(x0, y0, x1 - x0, y1 - y0), score=float(scores[i])))
    return found


def _with_preprocessing(model: ov.Model) -> ov.Model:
    """Fold BGR->RGB, /255 and NHWC->NCHW into the model, so the canvas goes in as it is."""
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(
        ColorFormat.BGR
    )
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
    return ppp.build()


class PlateDetector:
    """Finds plates in one frame at a time (LATENCY). Thread-safe: each call has its own request."""

    def __init__(
        self,
        runtime: Runtime | None = None,
        score_threshold: float = SCORE_THRESHOLD,
        nms_threshold: float = NMS_THRESHOLD,
        mode: Mode = Mode.LATENCY,
    ) -> None:
        self.runtime = runtime or get_runtime()
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.model_file = self.runtime.model_file(DETECTOR_MODEL)
        model = self.runtime.core.read_model(self.model_file)
        # The shipped IR has a dynamic input (the zoomed re-detection runs it at 320); a static
        # shape compiles to faster code on the CPU.
        model.reshape([1, 3, DETECTOR_INPUT_SIZE, DETECTOR_INPUT_SIZE])
        self.compiled = self.runtime.compile(_with_preprocessing(model), mode)

    def prepare(self, frame: Image) -> tuple[NDArray[np.uint8], Letterbox]:
        """Validate and letterbox (the CPU work before inference; safe to run in a worker thread)."""
        return letterbox(validate_image(frame))

    def decode(
        self, output: NDArray[np.float32], box: Letterbox, score_threshold: float | None = None
    ) -> list[Detection]:
        threshold = self.score_threshold if score_threshold is None else score_threshold
        return decode(output, box, threshold, self.nms_threshold)

    def detect(self, frame: Image, score_threshold: float | None = None) -> list[Detection]:
        """Plates in one BGR frame, best first (down to `score_threshold`, default the detector's)."""
        canvas, box = self.prepare(frame)
        request = self.compiled.create_infer_request()
        result = request.infer(canvas, share_inputs=True)
        return self.decode(result[0], box, score_threshold)

    def stream(self, jobs: int | None = None) -> DetectorStream:
        """A THROUGHPUT-compiled sibling for many frames in flight."""
        return DetectorStream(self.runtime, self.score_threshold, self.nms_threshold, jobs)


_Callback = Callable[[NDArray[np.float32]], None]


class DetectorStream:
    """The detector compiled for THROUGHPUT, fed through an `AsyncInferQueue`.

    `detect_many` is for batches (benches, file replays); `detect_async` is for asyncio code: it
    never blocks the event loop (letterboxing runs in a worker thread, inference in OpenVINO's
    threads, and a semaphore keeps `start_async` from ever waiting for a free request). Use one
    stream from one of the two at a time: the semaphore does not know about `detect_many`.
    """

    def __init__(
        self,
        runtime: Runtime | None = None,
        score_threshold: float = SCORE_THRESHOLD,
        nms_threshold: float = NMS_THRESHOLD,
        jobs: int | None = None,
    ) -> None:
        self.detector = PlateDetector(runtime, score_threshold, nms_threshold, Mode.THROUGHPUT)
        compiled = self.detector.compiled
        jobs = jobs or int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.queue = ov.AsyncInferQueue(compiled, jobs)
        self.queue.set_callback(self._done)
        self.jobs = jobs
        # One semaphore per event loop: an asyncio primitive belongs to the loop it first waits on.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @staticmethod
    def _done(request: ov.InferRequest, userdata: Any) -> None:
        callback, _canvas = userdata  # the canvas rides along so the shared input outlives the request
        # The output tensor belongs to the request and is reused: copy it out.
        callback(request.get_output_tensor(0).data.copy())

    def _submit(self, canvas: NDArray[np.uint8], callback: _Callback) -> None:
        self.queue.start_async(canvas, (callback, canvas), share_inputs=True)

    def detect_many(self, frames: Iterable[Image]) -> Iterator[list[Detection]]:
        """Detections for each frame, in order, keeping up to `jobs` frames in flight."""
        pending: dict[int, tuple[Letterbox, list[NDArray[np.float32]]]] = {}
        next_out = 0
        for index, frame in enumerate(frames):
            canvas, box = self.detector.prepare(frame)
            sink: list[NDArray[np.float32]] = []
            pending[index] = (box, sink)
            self._submit(canvas, sink.append)  # blocks only while all requests are busy
            while next_out in pending and pending[next_out][1]:
                box_out, out = pending.pop(next_out)
                yield self.detector.decode(out[0], box_out)
                next_out += 1
        self.queue.wait_all()
        while next_out in pending:
            box_out, out = pending.pop(next_out)
            yield self.detector.decode(out[0], box_out)
            next_out += 1

    async def detect_async(self, frame: Image, score_threshold: float | None = None) -> list[Detection]:
        """Detections for one frame, awaited; many calls may run concurrently (down to
        `score_threshold`, default the detector's)."""
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.jobs)
        canvas, box = await asyncio.to_thread(self.detector.prepare, frame)
        future: asyncio.Future[NDArray[np.float32]] = loop.create_future()

        def deliver(output: NDArray[np.float32]) -> None:
            loop.call_soon_threadsafe(_resolve, future, output)

        async with slots:
            self._submit(canvas, deliver)
            output = await future
        return self.detector.decode(output, box, score_threshold)


def _resolve(future: asyncio.Future[NDArray[np.float32]], output: NDArray[np.float32]) -> None:
    if not future.done():  # the awaiting task may have been cancelled
        future.set_result(output)
