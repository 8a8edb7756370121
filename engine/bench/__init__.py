"""`platewatch bench …`: the benchmarks users run and every target is checked with.

`bench_app` is mounted by the CLI (`app.add_typer(bench_app, name="bench")`). The commands import
their modules when they run, so `platewatch --help` does not load OpenVINO and OpenCV.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

if TYPE_CHECKING:
    from .accuracy import run_accuracy
    from .vision import run_vision

bench_app = typer.Typer(help="Measure accuracy and speed (figures as a table, or JSON with --json).")

Region = Literal["us", "eu", "br", "auto"]
PrecisionOpt = Literal["f32", "bf16", "int8"]
DeviceOpt = Literal["AUTO", "CPU", "GPU", "NPU"]


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


@bench_app.command("accuracy")
def accuracy_command(
    directory: Annotated[Path, typer.Argument(help="openalpr-format directory: IMAGE + IMAGE.txt")],
    region: Annotated[Region, typer.Option(help="plate format rules")] = "auto",
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures as JSON")] = None,
    report_html: Annotated[
        Path | None, typer.Option("--html", help="HTML report of misreads (default: beside --json)")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="only the first N images")] = None,
    only_list: Annotated[Path | None, typer.Option("--only-list", help="only images named in FILE")] = None,
    exclude_list: Annotated[
        Path | None, typer.Option("--exclude-list", help="skip images named in FILE")
    ] = None,
) -> None:
    """Detection and read accuracy over labelled photos (keys images, detected, exact, within_one, p50_ms)."""
    from ..vision.types import VisionError
    from .accuracy import run_accuracy

    try:
        run_accuracy(
            directory, region, json_out, report_html, limit, only_list=only_list, exclude_list=exclude_list
        )
    except VisionError as exc:
        raise _fail(exc) from None


@bench_app.command("vision")
def vision_command(
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures as JSON")] = None,
    seconds: Annotated[float, typer.Option(min=1, help="total measuring time")] = 10,
    precision: Annotated[PrecisionOpt | None, typer.Option(help="force inference precision")] = None,
    device: Annotated[DeviceOpt | None, typer.Option(help="OpenVINO device (default: settings)")] = None,
) -> None:
    """Recognition speed (keys detector_fps, ocr_per_s, e2e_1080p_fps, single_image_p50_ms, device)."""
    from ..vision.types import VisionError
    from .vision import run_vision

    try:
        run_vision(json_out, seconds, precision, device)
    except VisionError as exc:
        raise _fail(exc) from None


def __getattr__(name: str) -> Any:
    if name == "run_accuracy":
        from .accuracy import run_accuracy

        return run_accuracy
    if name == "run_vision":
        from .vision import run_vision

        return run_vision
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["bench_app", "run_accuracy", "run_vision"]


def _register_part_benches() -> None:
    """The benches that live with their part (hotlist, store, pipeline) under one `bench` group."""
    from .hotlist import hotlist_bench
    from .pipeline import pipeline_bench
    from .store import store_bench

    bench_app.command("hotlist")(hotlist_bench)
    bench_app.command("store")(store_bench)
    bench_app.command("pipeline")(pipeline_bench)


_register_part_benches()
