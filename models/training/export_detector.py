"""Export the fastanpr 0.1.13 plate detector (``fastanpr/best.pt``) to OpenVINO IR FP16.

Why a script: the shipped ``models/plate_det.xml/.bin`` must be reproducible from a public, licensed
source (AGPL-3.0, see ``models/LICENSES-detector.md``). Ultralytics is a development-time tool only, so this
runs in a separate training virtualenv, never in the runtime one:

    YOLO_OFFLINE=1 /work/train-venv/bin/python models/training/export_detector.py

Steps: locate ``best.pt`` inside the installed ``fastanpr`` wheel, export it with ultralytics to ONNX
(opset 17, trained at 640x640, dynamic batch and input size, no NMS), convert with
``openvino.convert_model`` and save as FP16 IR next to this directory's parent. The script prints
the versions and the SHA-256 of every file, which go into the licence/provenance file.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import shutil
import tempfile
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent.parent


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    names = ("fastanpr", "ultralytics-opencv-headless", "ultralytics", "torch", "onnx", "openvino")
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _fastanpr_weights() -> Path:
    """Path of ``fastanpr/best.pt`` in the installed wheel.

    Found through the distribution's file list rather than ``import fastanpr``: importing the package
    pulls in paddleocr/paddlepaddle, which the export does not need.
    """
    dist = importlib.metadata.distribution("fastanpr")
    if dist.version != "0.1.13":
        raise SystemExit(f"expected fastanpr 0.1.13 (the audited weights), found {dist.version}")
    for file in dist.files or ():
        if file.as_posix() == "fastanpr/best.pt":
            return Path(str(file.locate())).resolve()
    raise SystemExit("fastanpr/best.pt not found in the installed fastanpr wheel")


def export(out_dir: Path, imgsz: int = 640, opset: int = 17) -> Path:
    """Export and convert; returns the path of the written ``plate_det.xml``."""
    # Nothing may be fetched at run time: ultralytics otherwise checks for updates and fonts.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import openvino as ov
    from ultralytics import YOLO

    source = _fastanpr_weights()
    with tempfile.TemporaryDirectory() as tmp:
        # Ultralytics writes the ONNX beside the .pt, so export a copy in a scratch directory.
        pt = Path(tmp) / "best.pt"
        shutil.copyfile(source, pt)
        onnx_path = Path(
            YOLO(str(pt)).export(
                # Dynamic input: the runtime fixes it at compile time, 640 for full frames and
                # 320 for the zoomed re-detection of single plates (engine/vision/views.py).
                format="onnx",
                opset=opset,
                imgsz=imgsz,
                dynamic=True,
                simplify=True,
                nms=False,
                batch=1,
            )
        )
        model = ov.convert_model(onnx_path)
        # Provenance inside the IR itself, readable with Model.get_rt_info().
        model.set_rt_info("fastanpr 0.1.13 best.pt (YOLOv8n, AGPL-3.0)", ["platewatch", "source"])
        model.set_rt_info(_sha256(source), ["platewatch", "source_sha256"])
        # Ultralytics stamps the export time; a fixed value makes the IR byte-for-byte reproducible.
        model.set_rt_info("not recorded (reproducible export)", ["framework", "date"])
        model.set_rt_info(str(imgsz), ["platewatch", "imgsz"])
        model.set_rt_info("cx,cy,w,h,score", ["platewatch", "output_layout"])
        out_dir.mkdir(parents=True, exist_ok=True)
        xml = out_dir / "plate_det.xml"
        ov.save_model(model, xml, compress_to_fp16=True)
        print(f"source {source} sha256 {_sha256(source)}")
        print(f"onnx   sha256 {_sha256(onnx_path)}")
    for name in ("plate_det.xml", "plate_det.bin"):
        print(f"{name} sha256 {_sha256(out_dir / name)}")
    print("versions", _versions())
    return xml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="directory for plate_det.xml/.bin")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args()
    export(args.out, args.imgsz, args.opset)


if __name__ == "__main__":
    main()
