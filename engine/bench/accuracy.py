"""`platewatch bench accuracy DIR`: how well plates are found and read on labelled photos.

Why a user feature: a department measures accuracy on its own cameras' photos before trusting
alerts, with the same command the project uses for its targets. DIR is in the openalpr benchmark
format: IMAGE plus IMAGE.txt holding ``name<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE`` (one line per
plate). Each image goes through the public pipeline (`Recognizer.analyse`, the same code as
`recognize`) from its encoded bytes, so `p50_ms` includes JPEG decoding as a real request would.
"""

from __future__ import annotations

import base64
import contextlib
import html
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from platewatch.engine.config import VisionConfig

from ..plates import edit_distance
from ..vision.boxes import iou
from ..vision.pipeline import Recognizer, crop_box
from ..vision.runtime import get_runtime
from ..vision.types import Box, Image, Observation, VisionError
from .report import page, write_json

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

#: A read belongs to a label when its box overlaps that much, or either box's centre is in the other.
MIN_IOU = 0.3


@dataclass(frozen=True, slots=True)
class Label:
    box: Box
    plate: str


@dataclass(frozen=True, slots=True)
class Sample:
    image: Path
    labels: tuple[Label, ...]


#: More measuring on the same photos: (samples, recognizer, region, single-photo figures, console)
#: -> the figures to report.
Extension = Callable[[list["Sample"], Recognizer, str, dict[str, Any], Console], dict[str, Any]]


@dataclass(slots=True)
class Misread:
    image: str
    truth: str
    read: str
    candidates: list[str]
    detected: bool
    crop_png: str = field(default="", repr=False)  # base64, for the HTML report only


def read_name_list(path: Path) -> set[str]:
    """Image names, one a line (``#`` comments allowed); matched by file name or stem."""
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.update({line, Path(line).stem})
    return names


def load_samples(
    directory: Path, only: set[str] | None = None, exclude: set[str] | None = None, limit: int | None = None
) -> list[Sample]:
    """The labelled images of an openalpr-format directory, sorted by name."""
    if not directory.is_dir():
        raise VisionError(f"{directory} is not a directory")
    samples = []
    for txt in sorted(directory.glob("*.txt")):
        labels: list[Label] = []
        image: Path | None = None
        for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.strip().split("\t")
            if len(parts) < 6:
                continue
            name, x, y, w, h, plate = parts[:6]
            try:
                box = Box(int(x), int(y), int(w), int(h))
            except ValueError:
                continue
            image = image or _find_image(directory, name, txt)
            labels.append(Label(box, plate.strip().upper()))
        if image is None or not labels:
            continue
        keys = {image.name, image.stem}
        if (only is not None and not keys & only) or (exclude is not None and keys & exclude):
            continue
        samples.append(Sample(image, tuple(labels)))
    return samples[:limit] if limit else samples


def _find_image(directory: Path, name: str, txt: Path) -> Path | None:
    candidates = [directory / name, *(txt.with_suffix(s) for s in IMAGE_SUFFIXES)]
    return next((p for p in candidates if p.is_file()), None)


def normalise(text: str, region: str) -> str:
    """Compare plates by their characters only; in EU plates O and 0 are one character."""
    out = "".join(c for c in text.upper() if c.isascii() and c.isalnum())
    return out.replace("O", "0") if region == "eu" else out


def _centre_in(a: Box, b: Box) -> bool:
    cx, cy = a.x + a.w / 2, a.y + a.h / 2
    return b.x <= cx <= b.x + b.w and b.y <= cy <= b.y + b.h


def overlaps(found: Box, label: Box) -> bool:
    return iou(found, label) >= MIN_IOU or _centre_in(found, label) or _centre_in(label, found)


def _png_b64(crop: Image) -> str:
    ok, buf = cv2.imencode(".png", crop)
    return base64.b64encode(buf.tobytes()).decode("ascii") if ok and crop.size else ""


@dataclass(slots=True)
class _Tally:
    plates: int = 0
    detected: int = 0
    exact: int = 0
    within_one: int = 0
    unmatched_reads: int = 0
    times_ms: list[float] = field(default_factory=list)
    misreads: list[Misread] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


def _score(
    tally: _Tally, sample: Sample, frame: Image, boxes: list[Box], reads: list[Observation], region: str
) -> None:
    for label in sample.labels:
        tally.plates += 1
        detected = any(overlaps(b, label.box) for b in boxes)
        tally.detected += detected
        matching = [r for r in reads if overlaps(r.box, label.box)]
        best = max(matching, key=lambda r: iou(r.box, label.box), default=None)
        truth, read = normalise(label.plate, region), normalise(best.text if best else "", region)
        tally.exact += read == truth
        tally.within_one += edit_distance(read, truth) <= 1
        if read != truth:
            tally.misreads.append(
                Misread(
                    image=sample.image.name,
                    truth=label.plate,
                    read=best.text if best else "",
                    candidates=[c.text for c in best.candidates] if best else [],
                    detected=detected,
                    crop_png=_png_b64(crop_box(frame, best.box if best else label.box)),
                )
            )


def run_accuracy(
    directory: Path,
    region: str = "auto",
    json_out: Path | None = None,
    report_html: Path | None = None,
    limit: int | None = None,
    only_list: Path | None = None,
    exclude_list: Path | None = None,
    recognizer: Recognizer | None = None,
    console: Console | None = None,
    vision: VisionConfig | None = None,
    data_dir: Path | None = None,
    vehicles: Path | None = None,
    extend: Extension | None = None,
) -> dict[str, Any]:
    """Run the pipeline over DIR and return (and optionally write) the figures.

    With `json_out` and no `report_html`, the HTML report is written beside the JSON. Without a
    `recognizer`, one is built from `vision` (the command hands down `settings.vision`).
    `extend` measures more on the same photos and recognizer and returns the figures to report
    instead (`as_camera.py` plays them as a camera, its pass misreads go into the HTML report).
    """
    console = console or Console(stderr=True)
    only = read_name_list(only_list) if only_list else None
    exclude = read_name_list(exclude_list) if exclude_list else None
    samples = load_samples(directory, only, exclude, limit)
    if not samples:
        raise VisionError(f"no labelled images (IMAGE + IMAGE.txt) found in {directory}")
    if recognizer is None:
        vision = vision or VisionConfig()
        recognizer = Recognizer(
            get_runtime(vision, data_dir),
            region=region,
            thorough=vision.thorough,
            zoom_search=vision.zoom_search,
        )
    with contextlib.suppress(VisionError):  # warm-up: the first inference allocates
        recognizer.recognize(samples[0].image.read_bytes(), region)
    tally = _Tally()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"bench accuracy {directory.name}", total=len(samples))
        for sample in samples:
            data = sample.image.read_bytes()
            start = time.perf_counter()
            try:
                result = recognizer.analyse(data, region)
            except VisionError as exc:  # counted as missed plates, and listed
                tally.errors.append({"image": sample.image.name, "error": str(exc)})
                tally.plates += len(sample.labels)
                progress.advance(task)
                continue
            tally.times_ms.append((time.perf_counter() - start) * 1000.0)
            _score(tally, sample, result.frame, [d.box for d in result.detections], result.reads, region)
            progress.advance(task)
    single = figures = _figures(tally, len(samples), directory, region, recognizer)
    _print_table(console, figures)
    if extend is not None:
        figures = extend(samples, recognizer, region, single, console)
    # Vehicle colour/type where labelled (`vehicles` TSV, or colour=/type= columns in IMAGE.txt).
    from .vehicle_accuracy import print_vehicle_table, run_vehicle_accuracy

    if (
        vehicle_figures := run_vehicle_accuracy(samples, vehicles, recognizer.runtime, wilson_interval)
    ) is not None:
        figures["vehicles"] = vehicle_figures
        print_vehicle_table(console, vehicle_figures)
    # The plate's issuing state where the labels name one (a state column), and the formats' choice.
    from .state_accuracy import print_state_table, run_state_accuracy

    if (
        state_figures := run_state_accuracy(samples, vehicles, recognizer, region, wilson_interval)
    ) is not None:
        figures["state"] = state_figures
        print_state_table(console, state_figures)
    if json_out:
        write_json(json_out, figures)
        report_html = report_html or json_out.with_suffix(".html")
    if report_html:
        report_html.write_text(_html(single, tally.misreads, figures.get("pass_misreads")), encoding="utf-8")
    return figures


def _figures(
    tally: _Tally, images: int, directory: Path, region: str, recognizer: Recognizer
) -> dict[str, Any]:
    plates = max(tally.plates, 1)
    runtime = recognizer.runtime
    times = tally.times_ms or [0.0]
    return {
        "directory": str(directory),
        "region": region,
        "images": images,
        "plates": tally.plates,
        "detected": round(tally.detected / plates, 4),
        "exact": round(tally.exact / plates, 4),
        "exact_ci95": [round(v, 4) for v in wilson_interval(tally.exact, tally.plates)],
        "within_one": round(tally.within_one / plates, 4),
        "unmatched_reads": tally.unmatched_reads,
        "p50_ms": round(statistics.median(times), 2),
        "p90_ms": round(statistics.quantiles(times, n=10)[-1], 2) if len(times) > 1 else round(times[0], 2),
        "device": runtime.device,
        "precision": runtime.effective_precision(recognizer.detector.compiled),
        # which files were read: a retrained model (vision.models_dir) against the shipped one
        "models": {
            "detector": str(getattr(recognizer.detector, "model_file", "?")),
            "ocr": str(getattr(recognizer.reader, "model_path", "?")),
        },
        "errors": tally.errors,
        "misreads": [{k: v for k, v in asdict(m).items() if k != "crop_png"} for m in tally.misreads],
    }


def _pass_rows(pass_misreads: list[dict[str, Any]] | None) -> str:
    """The photos whose passes were misread, lost or split, when played as a camera."""
    if pass_misreads is None:
        return ""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(m['image'])}</td><td class=t>{esc(m['truth'])}</td>"
        f"<td class=r>{esc(m['read']) or '<i>lost</i>'}</td><td>{m['passes']}</td></tr>"
        for m in pass_misreads
    )
    return f"""
<h2>played as a camera: {len(pass_misreads)} plate(s) misread, lost or split</h2>
<table><tr><th>image</th><th>truth</th><th>pass read</th><th>passes</th></tr>
{rows}
</table>"""


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion.

    Why: accuracy sets here are small (36 held-out US plates: one plate is 2.8 points), and two
    models a plate apart are not told apart by their point figures; the interval says how far the
    true rate could be. Wilson's, unlike the normal approximation, stays inside [0, 1] and is sound
    at 0 or n successes.
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1; rounding would leave it a hair inside.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def _print_table(console: Console, figures: dict[str, Any]) -> None:
    table = Table(title=f"bench accuracy: {figures['directory']} (region {figures['region']})")
    for name in (
        "images",
        "detected",
        "exact (95 % CI)",
        "within one",
        "p50 ms",
        "p90 ms",
        "device / precision",
    ):
        table.add_column(name, justify="right")
    pct = "{:.1%}".format
    table.add_row(
        str(figures["images"]),
        pct(figures["detected"]),
        f"{pct(figures['exact'])} ({figures['exact_ci95'][0]:.0%}-{figures['exact_ci95'][1]:.0%})",
        pct(figures["within_one"]),
        f"{figures['p50_ms']:.1f}",
        f"{figures['p90_ms']:.1f}",
        f"{figures['device']} / {figures['precision']}",
    )
    console.print(table)
    if figures["errors"]:
        console.print(
            f"[yellow]{len(figures['errors'])} image(s) could not be read; see 'errors' in the JSON"
        )


def _html(
    figures: dict[str, Any], misreads: list[Misread], pass_misreads: list[dict[str, Any]] | None = None
) -> str:
    esc = html.escape
    rows = []
    for m in misreads:
        img = f'<img src="data:image/png;base64,{m.crop_png}" alt="crop">' if m.crop_png else "(no crop)"
        candidates = ", ".join(esc(c) for c in m.candidates) or "&mdash;"
        rows.append(
            f"<tr><td>{img}</td><td>{esc(m.image)}</td><td class=t>{esc(m.truth)}</td>"
            f"<td class=r>{esc(m.read) or '<i>nothing</i>'}</td><td>{candidates}</td>"
            f"<td>{'yes' if m.detected else '<b>no</b>'}</td></tr>"
        )
    summary = ", ".join(
        f"{k} {figures[k]:.1%}" if isinstance(figures[k], float) and k != "p50_ms" else f"{k} {figures[k]}"
        for k in ("images", "detected", "exact", "within_one", "p50_ms")
    )
    low, high = figures["exact_ci95"]
    summary += f" (95 % interval {low:.1%}-{high:.1%})"
    device = f"{figures['device']} / {figures['precision']}"
    body = f"""<p>region {esc(figures["region"])}; {esc(summary)}; {esc(device)}</p>
<p>models: detector {esc(figures["models"]["detector"])}, OCR {esc(figures["models"]["ocr"])}</p>
<h2>{len(misreads)} misread plate(s)</h2>
<table><tr><th>crop</th><th>image</th><th>truth</th><th>read</th><th>candidates</th><th>detected</th></tr>
{"".join(rows)}
</table>{_pass_rows(pass_misreads)}"""
    style = """td, th { border-bottom: 1px solid #ddd; vertical-align: middle; }
img { max-height: 80px; image-rendering: pixelated; }
.t { color: #060; font-family: monospace; font-size: 1.3em; }
.r { color: #a00; font-family: monospace; font-size: 1.3em; }
"""
    return page("accuracy", figures["directory"], body, style)
