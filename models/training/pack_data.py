"""Pack the openalpr benchmark into a small copy for a remote training machine.

Scene images are cut to one window around their plate boxes (the same 2x-wide, 3x-tall window
train.py cuts around each box) with the boxes rewritten, and the clean crops are re-encoded as
JPEG, so the whole set fits a ~40 MB upload. The names are kept, so the hash-based splits of
common.py (held-out thirds, validation sixth) are the same on the copy.

    python models/training/pack_data.py OUT_DIR     # reads $PLATEWATCH_DATA
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import cv2

from platewatch.models.training.common import DATA


def pack(dst: Path) -> None:
    (dst / "ocr-crops").mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "ocr-crops" / "groundtruth.csv", dst / "ocr-crops" / "groundtruth.csv")
    for p in (DATA / "ocr-crops").glob("*.png"):
        img = cv2.imread(str(p))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if ok:  # JPEG bytes under the .png name: cv2.imread sniffs the content, the split keys on names
            (dst / "ocr-crops" / p.name).write_bytes(buf.tobytes())
    for region in ("us", "eu", "br"):
        out = dst / region
        out.mkdir(exist_ok=True)
        for txt in sorted((DATA / region).glob("*.txt")):
            img = cv2.imread(str(txt.with_suffix(".jpg")))
            boxes = []
            for line in txt.read_text().splitlines():
                parts = line.strip().split("\t")
                if len(parts) >= 6:
                    boxes.append((int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4]), parts[5]))
            if img is None or not boxes:
                continue
            x0 = max(0, min(x - w for x, y, w, h, _ in boxes))
            y0 = max(0, min(y - 2 * h for x, y, w, h, _ in boxes))
            x1 = min(img.shape[1], max(x + 2 * w for x, y, w, h, _ in boxes))
            y1 = min(img.shape[0], max(y + 3 * h for x, y, w, h, _ in boxes))
            cv2.imwrite(str(out / f"{txt.stem}.jpg"), img[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            lines = [f"{txt.stem}.jpg\t{x - x0}\t{y - y0}\t{w}\t{h}\t{t}" for x, y, w, h, t in boxes]
            (out / txt.name).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    pack(Path(sys.argv[1]))
