"""`platewatch bench …`: the benchmarks users run and every target is checked with.

The benches themselves live in engine/bench; these commands parse the options, hand over the
settings a bench needs and print its figures. Each imports its bench when it runs, so
`platewatch --help` loads neither OpenVINO, OpenCV nor PyAV.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from platewatch.engine.commands.context import settings
from platewatch.engine.config.choices import Device, Precision, Region

#: The server a bench makes its scratch database on (default: the configured or an embedded one).
ScratchServer = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Server to bench on (a scratch database is made there).", show_default=False
    ),
]

#: --json, --keep and --instances as the database and API benches word them.
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write the figures to FILE.")]
KeepScratch = Annotated[bool, typer.Option(help="Keep the scratch database afterwards.")]
ApiInstances = Annotated[int, typer.Option(min=1, help="API processes the clients are spread over.")]

bench_app = typer.Typer(help="Measure accuracy and speed (figures as a table, or JSON with --json).")


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


@contextlib.contextmanager
def _api_bench_servers(database_url: str | None) -> Iterator[tuple[str, str | None, str | None]]:
    """The owner's URL (it makes, migrates and drops the scratch database), the application role's URL
    (the API processes use it) and Redis: the given server's, or the configured or embedded ones. A
    BenchError inside becomes exit code 2."""
    from platewatch.engine.bench.audit import BenchError
    from platewatch.engine.services import Services

    with contextlib.ExitStack() as stack:
        app_url, redis_url = database_url, settings().services.redis_url
        if database_url is None:  # the configured database and Redis, or embedded ones
            endpoints = stack.enter_context(Services(settings(), need={"database", "redis"}))
            database_url, app_url = endpoints.database_owner_url, endpoints.database_url
            redis_url = endpoints.redis_url
        try:
            yield database_url, app_url, redis_url
        except BenchError as exc:
            raise _fail(exc) from None


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
    as_camera: Annotated[
        bool,
        typer.Option(
            "--as-camera",
            help="also play the photos as a camera (approach, then empty road) through the stream path "
            "and score the passes (keys exact, within_one, lost, split; single-photo figures under single)",
        ),
    ] = False,
    both_ways: Annotated[
        bool,
        typer.Option(
            "--both-ways",
            help="with --as-camera, play every other photo backwards (a vehicle driving away), so "
            "direction_right covers receding passes too",
        ),
    ] = False,
    widen: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="with --as-camera, play the photos through a view this many times wider and taller "
            "(each photo at its own pixel size amid its edges repeated, the frame at most 1920 wide)",
        ),
    ] = 1.0,
    vehicles: Annotated[
        Path | None,
        typer.Option(
            help="vehicle labels (TSV: image, colour, type, state): adds colour and type accuracy "
            "under the key vehicles (colour=/type= columns in IMAGE.txt count too)"
        ),
    ] = None,
) -> None:
    """Detection and read accuracy over labelled photos (keys images, detected, exact, within_one, p50_ms)."""
    from platewatch.engine.bench.accuracy import Extension, run_accuracy
    from platewatch.engine.vision.types import VisionError

    s = settings()
    extend: Extension | None = None
    if as_camera:
        import functools

        from platewatch.engine.bench.as_camera import camera_run

        extend = functools.partial(camera_run, both_ways=both_ways, widen=widen)
    try:
        run_accuracy(
            directory,
            region,
            json_out=json_out,
            report_html=report_html,
            limit=limit,
            only_list=only_list,
            exclude_list=exclude_list,
            vision=s.vision,
            data_dir=s.data_dir,
            vehicles=vehicles,
            extend=extend,
        )
    except VisionError as exc:
        raise _fail(exc) from None


@bench_app.command("vision")
def vision_command(
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures as JSON")] = None,
    seconds: Annotated[float, typer.Option(min=1, help="total measuring time")] = 10,
    precision: Annotated[Precision | None, typer.Option(help="force inference precision")] = None,
    device: Annotated[Device | None, typer.Option(help="OpenVINO device (default: settings)")] = None,
) -> None:
    """Recognition speed (keys detector_fps, ocr_per_s, e2e_1080p_fps, single_image_p50_ms, device)."""
    from platewatch.engine.bench.vision import run_vision
    from platewatch.engine.vision.types import VisionError

    s = settings()
    try:
        run_vision(json_out, seconds, precision, device, vision=s.vision, data_dir=s.data_dir)
    except VisionError as exc:
        raise _fail(exc) from None


@bench_app.command("hotlist")
def hotlist_command(
    entries: Annotated[int, typer.Option(min=1, help="Entries in the hotlists.")] = 1_000_000,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures to FILE.")] = None,
) -> None:
    """Hotlist index: load time, match latency per read, update visibility and memory."""
    from platewatch.engine.bench.hotlist import run_hotlist_bench
    from platewatch.engine.bench.report import print_figures

    Console(stderr=True).print(f"filling a private Redis with {entries:,} entries…")
    print_figures("bench hotlist", run_hotlist_bench(entries, json_out))


@bench_app.command("store")
def store_command(
    reads: Annotated[int, typer.Option("--reads", min=1000, help="How many reads to write.")] = 100_000,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the figures to FILE, and a chart of the rates to FILE.html."),
    ] = None,
    database_url: ScratchServer = None,
    days: Annotated[float, typer.Option(help="Days the reads are spread over.")] = 30.0,
    keep: KeepScratch = False,
) -> None:
    """Store ingest rate (persist path vs. a plain COPY, same run) and search latency."""
    from platewatch.engine.bench.report import print_figures
    from platewatch.engine.bench.store import run_store_bench
    from platewatch.engine.services import Services

    with contextlib.ExitStack() as stack:
        if database_url is None:  # the configured database, or an embedded one
            # the owner's URL: the bench makes (and drops) a scratch database
            database_url = stack.enter_context(Services(settings(), need={"database"})).database_owner_url
        figures = run_store_bench(
            reads, json_out, database_url=database_url, days=days, keep=keep, progress=True
        )
    print_figures(f"store bench ({figures['backend']})", figures)


@bench_app.command("export")
def export_command(
    reads: Annotated[
        int, typer.Option("--reads", min=1, help="Reads in the export (each with images).")
    ] = 10_000,
    crop_kb: Annotated[int, typer.Option(min=1, help="Size of each crop image.")] = 8,
    overview_kb: Annotated[int, typer.Option(min=1, help="Size of each overview image.")] = 200,
    work_dir: Annotated[
        Path | None, typer.Option(help="Where the scratch images and bundle go (default: the temp dir).")
    ] = None,
    json_out: JsonOut = None,
    database_url: ScratchServer = None,
    keep: KeepScratch = False,
) -> None:
    """An evidence export of N reads with images, timed (keys reads, seconds, bytes; 30 s target at 10k)."""
    from platewatch.engine.bench.export import run_export_bench
    from platewatch.engine.bench.report import print_figures, write_json
    from platewatch.engine.services import Services

    with contextlib.ExitStack() as stack:
        if database_url is None:  # the owner's URL: the bench makes (and drops) a scratch database
            database_url = stack.enter_context(Services(settings(), need={"database"})).database_owner_url
        figures = run_export_bench(
            reads,
            database_url=database_url,
            crop_kb=crop_kb,
            overview_kb=overview_kb,
            work_dir=work_dir,
            keep=keep,
        )
    if json_out is not None:
        write_json(json_out, figures)
    print_figures("bench export", figures)


@bench_app.command("audit")
def audit_command(
    rows: Annotated[int, typer.Option("--rows", min=100, help="Access-log rows to append.")] = 1_000_000,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent searching clients.")] = 20,
    instances: ApiInstances = 2,
    seconds: Annotated[
        float,
        typer.Option(
            min=1,
            help="How long the clients search each side (with and without the log), in alternating windows.",
        ),
    ] = 20.0,
    paced_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.99,
            help="Then search paced, at this share of the rate the no-log instances served back to back"
            " (Poisson arrivals); 0: no paced phase.",
        ),
    ] = 0.5,
    json_out: JsonOut = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="HTML report with the histograms (default: beside --json)")
    ] = None,
    database_url: ScratchServer = None,
    keep: KeepScratch = False,
) -> None:
    """Access log and login against the targets (keys rows, append_per_s, verify_s, login_p95_ms,
    search_overhead_p95_ms)."""
    from platewatch.engine.bench.audit import run_audit_bench
    from platewatch.engine.bench.report import print_figures

    with _api_bench_servers(database_url) as (owner_url, app_url, redis_url):
        figures = run_audit_bench(
            rows,
            owner_url=owner_url,
            database_url=app_url,
            redis_url=redis_url,
            clients=clients,
            instances=instances,
            seconds=seconds,
            paced_share=paced_share,
            json_out=json_out,
            html_out=html_out,
            keep=keep,
            console=Console(stderr=True),
        )
    print_figures("bench audit", figures)


@bench_app.command("search")
def search_command(
    reads: Annotated[
        int, typer.Option("--reads", min=1, help="Final reads (vehicle passes) in the scratch database.")
    ] = 1_000_000,
    searches: Annotated[int, typer.Option(min=1, help="Searches of each kind measured.")] = 100,
    days: Annotated[float, typer.Option(min=1, help="Days the reads are spread over.")] = 30.0,
    json_out: JsonOut = None,
    database_url: ScratchServer = None,
    keep: KeepScratch = False,
) -> None:
    """Investigator searches through the API, access log included (keys reads, exact_p95_ms,
    partial_p95_ms, fuzzy_p95_ms, area_p95_ms)."""
    from platewatch.engine.bench.report import print_figures
    from platewatch.engine.bench.search import run_search_bench

    with _api_bench_servers(database_url) as (owner_url, app_url, redis_url):
        figures = run_search_bench(
            reads,
            owner_url=owner_url,
            database_url=app_url,
            redis_url=redis_url,
            days=days,
            searches=searches,
            json_out=json_out,
            keep=keep,
            console=Console(stderr=True),
        )
    print_figures("bench search", figures)


@bench_app.command("dispatch")
def dispatch_command(
    clients: Annotated[int, typer.Option(min=1, help="Websocket clients (dispatchers' screens).")] = 200,
    alerts: Annotated[int, typer.Option(min=1, help="Alerts raised.")] = 2000,
    instances: ApiInstances = 2,
    rate: Annotated[float, typer.Option(min=1, help="Alerts raised per second.")] = 200.0,
    batch: Annotated[int, typer.Option(min=1, help="Alerts stored per transaction.")] = 10,
    compression: Annotated[
        bool, typer.Option(help="Clients offer permessage-deflate, as browsers do.")
    ] = True,
    client_processes: Annotated[
        int,
        typer.Option(
            min=0,
            help="Processes the clients are spread over (0: one per CPU), as dispatchers' own machines.",
        ),
    ] = 0,
    json_out: JsonOut = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="HTML report with the histogram (default: beside --json)")
    ] = None,
    database_url: ScratchServer = None,
    keep: KeepScratch = False,
) -> None:
    """Alerts fanned out to websocket clients on several API instances, a tenth reconnecting mid-run
    (keys clients, alerts, delivered, lost, duplicated, fanout_p95_ms, replayed)."""
    from platewatch.engine.bench.dispatch import KEYS, run_dispatch_bench
    from platewatch.engine.bench.report import print_figures

    with _api_bench_servers(database_url) as (owner_url, app_url, redis_url):
        figures = run_dispatch_bench(
            clients,
            alerts,
            owner_url=owner_url,
            database_url=app_url,
            redis_url=redis_url,
            instances=instances,
            rate=rate,
            batch=batch,
            compression=compression,
            client_processes=client_processes,
            json_out=json_out,
            html_out=html_out,
            keep=keep,
            console=Console(stderr=True),
        )
    print_figures("bench dispatch", figures, KEYS)


@bench_app.command("pipeline")
def pipeline_command(
    cameras: Annotated[int, typer.Option(min=1, help="cameras captured at once")] = 2,
    seconds: Annotated[float, typer.Option(min=1, help="measuring time")] = 30.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures as JSON")] = None,
    width: Annotated[int, typer.Option(help="camera frame width")] = 1920,
    height: Annotated[int, typer.Option(help="camera frame height")] = 1080,
    fps: Annotated[int, typer.Option(min=1, max=30, help="camera frame rate (all frames recognised)")] = 10,
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="HTML report: latency histogram, cameras (default: beside --json)"),
    ] = None,
    api: Annotated[
        bool,
        typer.Option(
            "--api",
            help="The real path: a worker, its own broker and Redis, the API, a dispatcher's websocket.",
        ),
    ] = False,
    database_url: ScratchServer = None,
    faults: Annotated[
        str | None,
        typer.Option(
            help="Kill (SIGKILL) and restart these one at a time, comma-separated: "
            "worker,api,redis,database,broker. Its own stack: two workers, embedded services.",
            show_default=False,
        ),
    ] = None,
    soak: Annotated[
        bool,
        typer.Option(
            "--soak", help="The fault stack with no faults for --seconds: memory and latency over time."
        ),
    ] = False,
    down_s: Annotated[
        float, typer.Option(min=0, help="With --faults: how long a killed part stays down.")
    ] = 2.0,
    video_seconds: Annotated[
        float, typer.Option(min=4, help="length of the looped demo video (longer: more distinct passes)")
    ] = 16.0,
    lanes: Annotated[int, typer.Option(min=1, max=4, help="lanes of the demo video's cars")] = 1,
) -> None:
    """Cameras through recognition and tracking (keys frames_per_s, reads, alerts, alert_latency_p50_ms,
    alert_latency_p95_ms, lost, duplicated); with --api, frame to a dispatcher's websocket (keys
    ws_latency_p50_ms, ws_latency_p95_ms, ws_alerts, ws_lost, ws_duplicated); with --faults, the
    parts killed in turn (keys lost, duplicated, alerts_lost, alerts_duplicated, recovery_s); with
    --soak, memory and latency over time (memory_growth_pct, latency_per_minute)."""
    from platewatch.engine.bench.audit import BenchError
    from platewatch.engine.bench.pipeline import run_pipeline_bench
    from platewatch.engine.bench.report import print_figures
    from platewatch.engine.services import Services

    if faults is not None or soak:
        from platewatch.engine.bench.faults import run_fault_bench

        try:
            figures = run_fault_bench(
                [f.strip() for f in (faults or "").split(",") if f.strip()],
                seconds,
                cameras=cameras,
                width=width,
                height=height,
                fps=fps,
                down_s=down_s,
                soak=soak,
                json_path=json_out,
                html_path=html_out,
                logs_dir=json_out.with_name(json_out.stem + "-logs") if json_out else None,
                console=Console(stderr=True),
            )
        except (BenchError, ValueError) as exc:
            raise _fail(exc) from None
        print_figures("bench pipeline", {k: v for k, v in figures.items() if not isinstance(v, list)})
        return
    s = settings()
    with contextlib.ExitStack() as stack:
        app_url = database_url
        if api and database_url is None:  # the configured database, or an embedded one
            endpoints = stack.enter_context(Services(s, need={"database"}))
            database_url, app_url = endpoints.database_owner_url, endpoints.database_url
        try:
            figures = run_pipeline_bench(
                cameras,
                seconds,
                width=width,
                height=height,
                fps=fps,
                json_path=json_out,
                html_path=html_out,
                vision=s.vision,
                data_dir=s.data_dir,
                api_owner_url=database_url if api else None,
                api_database_url=app_url,
                video_seconds=video_seconds,
                lanes=lanes,
            )
        except BenchError as exc:
            raise _fail(exc) from None
    print_figures("bench pipeline", {k: v for k, v in figures.items() if not isinstance(v, list)})


@bench_app.command("alerts")
def alerts_command(
    entries: Annotated[int, typer.Option(min=1, help="Random entries in the hotlist.")] = 1_000_000,
    photos: Annotated[
        list[Path] | None, typer.Option("--photos", help="openalpr-format directory of labelled photos")
    ] = None,
    crops: Annotated[
        list[Path] | None, typer.Option("--crops", help="directory of plate crops with groundtruth.csv")
    ] = None,
    synthetic: Annotated[int, typer.Option(min=0, help="synthetic plates rendered and read")] = 50_000,
    passes: Annotated[
        int, typer.Option(min=0, help="synthetic passes (one plate in several frames), voted and matched")
    ] = 0,
    pass_frames: Annotated[int, typer.Option(min=1, max=20, help="frames of each pass")] = 3,
    stacked_share: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="share of stacked plates in the synthetic traffic (default: the measured share)",
        ),
    ] = None,
    fuzzy: Annotated[str, typer.Option(help="the list's leniency: off, strict or lenient")] = "strict",
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures as JSON")] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="HTML report with the curve (default: beside --json)")
    ] = None,
) -> None:
    """False alerts and recall of a hotlist of N entries on real and synthetic reads (keys entries,
    reads, false_alerts_per_10k, false_possible_per_10k, recall_listed, recall_listed_within_one)."""
    from platewatch.engine.bench.alerts import STACKED_SHARE, print_alert_figures, run_alerts_bench
    from platewatch.engine.vision.types import VisionError

    if fuzzy not in ("off", "strict", "lenient"):
        raise _fail(ValueError("--fuzzy must be off, strict or lenient"))
    s = settings()
    try:
        figures = run_alerts_bench(
            entries,
            photos=photos or (),
            crops=crops or (),
            synthetic=synthetic,
            passes=passes,
            pass_frames=pass_frames,
            stacked_share=STACKED_SHARE if stacked_share is None else stacked_share,
            fuzzy=fuzzy,
            json_out=json_out,
            html_out=html_out,
            vision=s.vision,
            data_dir=s.data_dir,
        )
    except VisionError as exc:
        raise _fail(exc) from None
    print_alert_figures(figures)
