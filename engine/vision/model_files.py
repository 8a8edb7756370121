"""The model files recognition loads, and the detector's input size.

Why a module of their own: the runtime times the detector to choose its float precision, and the
detector is built on the runtime. Both read these names from here, so neither imports the other.
"""

from __future__ import annotations

from typing import Final

#: The plate detector (YOLOv8n, fastanpr) and its square input side in pixels.
DETECTOR_MODEL: Final = "plate_det.xml"
DETECTOR_INPUT_SIZE: Final = 640
#: The plate recognizer; absent from an install until it has been trained and exported.
OCR_MODEL: Final = "plate_ocr.xml"
