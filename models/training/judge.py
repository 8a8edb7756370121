"""Judge a fine-tune of the recognizer by the fixed rule: candidates, gate, pick, then held-out.

Why a script: every attempt since the fourth (models/EXPERIMENTS.md) follows one protocol, and each
session rebuilt it by hand in a shell script that was lost with the machine. Written down, the
rule cannot drift between attempts, and a department retraining on its own plates gets it too:

1. *Candidates:* the uniform soup S of the runs' ends, then the shipped network moved towards S by
   each `--alphas` (WiSE-FT, interpolate.py), exported to OpenVINO IR beside a copy of the detector.
2. *Gate:* each candidate reads the trained-on US scenes end to end (`platewatch bench accuracy`);
   one that misreads a plate the shipped network reads there is out.
3. *Pick among the survivors:* the most ocr-crops (crops_val) within one, then the most exact,
   then the alpha nearest 0.5.
4. *Held-out (only with `--held-out`, only for the pick):* US held-out, US all, EU and BR held-out,
   beside the shipped network; `ship` says whether the issue's targets hold and nothing fell.

The held-out scenes are read only in step 4, once, so picking never sees them. Run it with the
runtime virtualenv's python (it calls `platewatch bench accuracy`); torch steps go through
`--torch-python`:

    .venv/bin/python models/training/judge.py /work/check/s11/last.pt /work/check/s12/last.pt \\
        --base /tmp/ocr_ir.pt --work /work/check/judge [--held-out]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from platewatch.models.training.common import DATA

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHIPPED = "shipped"
#: The issue's accuracy targets on held-out scenes (exact; US also within one).
TARGETS = {"us": 0.97, "eu": 0.97, "br": 0.98}
US_WITHIN_ONE = 0.99


def _run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        done = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, check=False, env=os.environ | (env or {})
        )
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}), see {log}: {' '.join(cmd)}")


def _names(region: str, held_out: bool) -> list[str]:
    """Image names of one region's held-out split, or (US only) of the rest."""
    held = set((HERE / f"holdout_{region}.txt").read_text().split())
    if held_out:
        return sorted(held)
    return sorted(p.name for p in (DATA / region).glob("*.jpg") if p.name not in held)


def bench(models: Path, region: str, names: list[str] | None, out: Path, log: Path) -> dict[str, Any]:
    """`platewatch bench accuracy` of one models directory over `names` (None: every scene)."""
    cmd = [sys.executable, "-m", "platewatch.engine", "bench", "accuracy", str(DATA / region)]
    cmd += ["--region", region, "--json", str(out)]
    if names is not None:
        listing = out.with_suffix(".list")
        listing.write_text("\n".join(names) + "\n")
        cmd += ["--only-list", str(listing)]
    _run(cmd, log, env={"PLATEWATCH_VISION__MODELS_DIR": str(models)})
    return json.loads(out.read_text())


def crops(models: Path, out: Path, log: Path) -> dict[str, float]:
    """Exact and within-one share of the crops_val split (eval_ocr.py)."""
    cmd = [sys.executable, str(HERE / "eval_ocr.py"), "--model", str(models / "plate_ocr.xml")]
    _run([*cmd, "--sets", "crops_val", "--synth", "0", "--no-speed", "--json", str(out)], log)
    return json.loads(out.read_text())["crops_val"]


def misread_plates(figures: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m["image"], m["truth"]) for m in figures["misreads"]}


def gate_passes(candidate: dict[str, Any], shipped: dict[str, Any]) -> bool:
    """No plate the shipped network reads is misread (new misreads are what the gate forbids)."""
    return candidate["plates"] == shipped["plates"] and misread_plates(candidate) <= misread_plates(shipped)


def pick(survivors: dict[str, dict[str, Any]]) -> str | None:
    """The candidate with the most crops within one, then the most exact, then alpha nearest 0.5."""
    if not survivors:
        return None
    return max(
        survivors,
        key=lambda n: (
            survivors[n]["crops"]["within_one"],
            survivors[n]["crops"]["exact"],
            -abs(survivors[n]["alpha"] - 0.5),
        ),
    )


def ships(cand: dict[str, Any], shipped: dict[str, Any]) -> tuple[bool, list[str]]:
    """The ship rule (models/README.md): every target on the held-out sets, and US all exact and
    crops exact not below the shipped network's. Returns the verdict and the reasons it fails."""
    why = []
    for region, floor in TARGETS.items():
        if cand[f"{region}_held_out"]["exact"] < floor:
            why.append(f"{region} held-out exact {cand[f'{region}_held_out']['exact']:.3f} < {floor}")
    if cand["us_held_out"]["within_one"] < US_WITHIN_ONE:
        why.append(f"us held-out within one {cand['us_held_out']['within_one']:.3f} < {US_WITHIN_ONE}")
    if cand["us_all"]["exact"] < shipped["us_all"]["exact"]:
        why.append("us all exact fell")
    if cand["crops"]["exact"] < shipped["crops"]["exact"]:
        why.append("crops exact fell")
    return not why, why


def make_candidates(args: argparse.Namespace, work: Path, log: Path) -> dict[str, dict[str, Any]]:
    def torch_step(script: str, *argv: str | Path) -> None:
        _run([args.torch_python, str(HERE / script), *map(str, argv)], log)

    runs = args.runs
    soup = Path(runs[0]) if len(runs) == 1 else work / "soup.pt"
    if len(runs) > 1:  # uniform soup, folded in pairwise with weights that keep it uniform
        torch_step("interpolate.py", runs[0], runs[1], soup, "--alpha", "0.5")
        for i, run in enumerate(runs[2:], start=3):
            torch_step("interpolate.py", soup, run, soup, "--alpha", f"{1 / i}")
    found: dict[str, dict[str, Any]] = {}
    for alpha in args.alphas:
        d = work / f"alpha{alpha}"
        d.mkdir(parents=True, exist_ok=True)
        if not (d / "plate_ocr.xml").exists():
            torch_step("interpolate.py", args.base, soup, d / "ckpt.pt", "--alpha", str(alpha))
            torch_step(
                "export.py", d / "ckpt.pt", "--onnx", d / "plate_ocr.onnx", "--xml", d / "plate_ocr.xml"
            )
        found[f"alpha {alpha}"] = {"dir": d, "alpha": alpha}
    return found


def _link_shipped(d: Path, pattern: str) -> Path:
    """Link the shipped models/ files matching `pattern` into `d` (a candidate's models directory
    gets the shipped detector; the shipped network's gets everything)."""
    for f in (REPO / "models").glob(pattern):
        if not (d / f.name).exists():
            (d / f.name).symlink_to(f)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="the runs' end checkpoints (last.pt)")
    ap.add_argument("--base", required=True, help="the shipped network as a checkpoint (ir_to_checkpoint.py)")
    ap.add_argument("--work", type=Path, required=True, help="directory for candidates and figures")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--torch-python", default="/work/train-venv/bin/python")
    ap.add_argument("--held-out", action="store_true", help="read the held-out scenes with the pick (once)")
    args = ap.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    log = work / "judge.log"

    shipped_dir = work / SHIPPED
    shipped_dir.mkdir(exist_ok=True)
    _link_shipped(shipped_dir, "plate_ocr.*")
    entries: dict[str, dict[str, Any]] = {SHIPPED: {"dir": shipped_dir, "alpha": 0.0}}
    entries |= make_candidates(args, work, log)

    rest = _names("us", held_out=False)
    for name, e in entries.items():
        d = _link_shipped(e["dir"], "plate_det.*")
        e["crops"] = crops(d, d / "crops.json", log)
        e["gate"] = bench(d, "us", rest, d / "gate.json", log)
        print(
            f"{name:12} crops exact {e['crops']['exact']:.3f} within one {e['crops']['within_one']:.3f}"
            f"  gate {round(e['gate']['exact'] * e['gate']['plates'])}/{e['gate']['plates']}"
            f" misreads {sorted(misread_plates(e['gate']))} ({e['gate']['precision']})",
            flush=True,
        )
    shipped = entries[SHIPPED]
    survivors = {n: e for n, e in entries.items() if n != SHIPPED and gate_passes(e["gate"], shipped["gate"])}
    chosen = pick(survivors)
    print(f"gate survivors: {sorted(survivors)}; pick: {chosen}", flush=True)
    verdict: dict[str, Any] = {"survivors": sorted(survivors), "pick": chosen}

    if chosen and args.held_out:
        for name in (SHIPPED, chosen):
            e, d = entries[name], entries[name]["dir"]
            e["us_held_out"] = bench(d, "us", _names("us", True), d / "us_held_out.json", log)
            e["us_all"] = bench(d, "us", None, d / "us_all.json", log)
            e["eu_held_out"] = bench(d, "eu", _names("eu", True), d / "eu_held_out.json", log)
            e["br_held_out"] = bench(d, "br", _names("br", True), d / "br_held_out.json", log)
            print(
                f"{name:12} "
                + "  ".join(
                    f"{k} {e[k]['exact']:.3f}/{e[k]['within_one']:.3f}"
                    for k in ("us_held_out", "us_all", "eu_held_out", "br_held_out")
                ),
                flush=True,
            )
        ok, why = ships(entries[chosen], shipped)
        verdict |= {"ship": ok, "why_not": why}
        print(f"ship: {ok} {why}", flush=True)

    (work / "judge.json").write_text(
        json.dumps({"verdict": verdict, "entries": entries}, indent=1, default=str)
    )


if __name__ == "__main__":
    main()
