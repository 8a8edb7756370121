"""`platewatch bench export` on a few hundred reads: the figures it reports are the bundle it made."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from platewatch.engine.bench.export import run_export_bench
from platewatch.engine.cli import app


def test_the_bench_exports_every_read_with_its_images(database_url: str, tmp_path: Path) -> None:
    figures = run_export_bench(300, database_url=database_url, crop_kb=2, overview_kb=20, work_dir=tmp_path)
    assert figures["reads"] == 300
    # two images a read, and README, reads.csv, reads.json, SHA256SUMS, manifest.json, manifest.sig
    assert figures["files"] == 300 * 2 + 6
    assert figures["bytes"] > 300 * 22 * 1024
    assert figures["zip_bytes"] > figures["bytes"] * 0.9
    assert 0 < figures["seconds"] < 60 and figures["verify_s"] > 0
    assert list(tmp_path.iterdir()) == []  # the scratch images and bundle are gone


def test_the_bench_command_prints_the_figures(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = CliRunner().invoke(
        app,
        [
            *("bench", "export", "--reads", "50", "--crop-kb", "1", "--overview-kb", "4"),
            *("--database-url", database_url, "--json", str(out), "--work-dir", str(tmp_path)),
        ],
    )
    assert done.exit_code == 0, done.output
    assert '"reads": 50' in out.read_text() and "seconds" in done.output
