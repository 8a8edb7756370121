"""Quantize the shipped plate detector and plate OCR to INT8 with NNCF post-training quantization.

Why: on CPUs without bf16 (no AMX / AVX512-BF16, most deployment machines) INT8 is the fast path
(VNNI), and on this project's development CPU it is faster still than bf16. Post-training
quantization needs only a few hundred representative inputs, no labels and no training:

- detector: full frames letterboxed to 640 and plate neighbourhoods letterboxed to 320 (the two
  input sizes the runtime uses), from the openalpr photos outside the held-out lists plus the
  project's synthetic scenes;
- OCR: plate crops cut from the same photos with the pipeline's crop margins.

Run in the development virtualenv (nncf is not a platewatch dependency):

    /work/train-venv/bin/pip install nncf
    /work/train-venv/bin/python models/training/quantize.py --data /path/to/openalpr/benchmarks/endtoend

It writes models/plate_det_int8.xml/.bin and models/plate_ocr_int8.xml/.bin and prints their SHA-256
for models/LICENSES*.md. `platewatch bench accuracy` / `bench vision` with
`PLATEWATCH_VISION__PRECISION=int8` measure them against the FP16 originals.
"""

from __future__ import annotations

import argparse
import hashlib
import random
from pathlib import Path

import cv2
import numpy as np

MODELS_DIR = Path(__file__).resolve().parent.parent
REPO = MODELS_DIR.parent


def _labelled(data: Path, held_out: set[str]) -> list[tuple[Path, list[tuple[int, int, int, int]]]]:
    found = []
    for sub in ("us", "eu", "br"):
        for txt in sorted((data / sub).glob("*.txt")):
            boxes = []
            for line in txt.read_text(errors="replace").splitlines():
                parts = line.split("\t")
                if len(parts) >= 6:
                    try:
                        boxes.append((int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4])))
                    except ValueError:
                        continue
            image = next(
                (txt.with_suffix(s) for s in (".jpg", ".jpeg", ".png") if txt.with_suffix(s).exists()), None
            )
            if image and boxes and image.name not in held_out and image.stem not in held_out:
                found.append((image, boxes))
    return found


def _held_out() -> set[str]:
    names: set[str] = set()
    for path in (MODELS_DIR / "training").glob("holdout_*.txt"):
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                names |= {line, Path(line).stem}
    return names


def _letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """As engine/vision/detector.letterbox, then as the IR's own input: RGB, 0..1, NCHW f32."""
    h, w = image.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = np.full((size, size, 3), 114, np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas[py : py + nh, px : px + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return rgb.transpose(2, 0, 1)[None]


def _neighbourhood(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    side = max(w * 3.0, h * 6.0)
    x0, x1 = max(0, int(cx - side / 2)), min(image.shape[1], int(cx + side / 2))
    y0, y1 = max(0, int(cy - side / 4)), min(image.shape[0], int(cy + side / 4))
    return image[y0:y1, x0:x1]


def _crop(image: np.ndarray, box: tuple[int, int, int, int], grow: tuple[float, float]) -> np.ndarray:
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    x0, x1 = max(0, round(cx - w * grow[0] / 2)), min(image.shape[1], round(cx + w * grow[0] / 2))
    y0, y1 = max(0, round(cy - h * grow[1] / 2)), min(image.shape[0], round(cy + h * grow[1] / 2))
    return image[y0:y1, x0:x1]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="openalpr benchmark directory (us/ eu/ br/)")
    parser.add_argument("--samples", type=int, default=300, help="calibration inputs per model")
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    parser.add_argument("--only", choices=("det", "ocr"), default=None)
    args = parser.parse_args()

    import nncf
    import openvino as ov

    rng = random.Random(462)
    photos = _labelled(args.data, _held_out())
    rng.shuffle(photos)
    core = ov.Core()

    if args.only in (None, "det"):
        det_inputs: list[np.ndarray] = []
        for image_path, boxes in photos:
            image = cv2.imread(str(image_path))
            if image is None:
                continue
            det_inputs.append(_letterbox(image, 640))
            det_inputs.append(_letterbox(_neighbourhood(image, rng.choice(boxes)), 320))
            if len(det_inputs) >= args.samples:
                break
        model = core.read_model(MODELS_DIR / "plate_det.xml")
        # The box decoding at the end of YOLOv8's head (DFL, anchors, strides) stays in float:
        # quantizing it moves every box by whole pixels.
        ignored = nncf.IgnoredScope(
            types=["Multiply", "Subtract", "Sigmoid"], names=["/model.22/dfl/conv/Conv"]
        )
        quantized = nncf.quantize(
            model,
            nncf.Dataset(det_inputs),
            preset=nncf.QuantizationPreset.MIXED,
            ignored_scope=ignored,
            subset_size=len(det_inputs),
        )
        quantized.set_rt_info("int8 (NNCF PTQ of plate_det.xml)", ["platewatch", "precision"])
        ov.save_model(quantized, args.out / "plate_det_int8.xml", compress_to_fp16=False)
        for name in ("plate_det_int8.xml", "plate_det_int8.bin"):
            print(f"{name} sha256 {_sha256(args.out / name)}")

    if args.only in (None, "ocr"):
        model = core.read_model(MODELS_DIR / "plate_ocr.xml")
        shape = model.input(0).get_partial_shape()  # NHWC: calibrate at the recognizer's own size
        height, width = shape[1].get_length(), shape[2].get_length()
        ocr_inputs: list[np.ndarray] = []
        for image_path, boxes in photos:
            image = cv2.imread(str(image_path))
            if image is None:
                continue
            for box in boxes:
                grow = rng.choice(((1.08, 1.25), (1.14, 1.4), (1.22, 1.55)))
                crop = _crop(image, box, grow)
                if crop.shape[0] < 4 or crop.shape[1] < 8:
                    continue
                interp = (
                    cv2.INTER_AREA if crop.shape[1] > width or crop.shape[0] > height else cv2.INTER_LINEAR
                )
                ocr_inputs.append(cv2.resize(crop, (width, height), interpolation=interp)[None])
            if len(ocr_inputs) >= args.samples:
                break
        quantized = nncf.quantize(
            model,
            nncf.Dataset(ocr_inputs),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(ocr_inputs),
        )
        quantized.set_rt_info("int8 (NNCF PTQ of plate_ocr.xml)", ["platewatch", "precision"])
        ov.save_model(quantized, args.out / "plate_ocr_int8.xml", compress_to_fp16=False)
        for name in ("plate_ocr_int8.xml", "plate_ocr_int8.bin"):
            print(f"{name} sha256 {_sha256(args.out / name)}")


if __name__ == "__main__":
    main()
