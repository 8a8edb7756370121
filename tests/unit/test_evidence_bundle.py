"""Evidence bundles (policy 462.3): what `export verify` catches, in a folder and in a zip.

A bundle is written from rows shaped like `evidence_reads` and a dict standing in for the image
store; each test then changes it the way someone with the media could, and checks that verification
with the department's public key names the change and fails.
"""

from __future__ import annotations

import json
import shutil
import stat
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from platewatch.engine.cli import app
from platewatch.engine.store.evidence.archive import extract_zip, zip_bundle
from platewatch.engine.store.evidence.bundle import BundleMeta, write_bundle
from platewatch.engine.store.evidence.keys import (
    EvidenceKeyError,
    load_public_key,
    public_pem,
    signing_key,
)
from platewatch.engine.store.evidence.verify import verify_bundle

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CROP = b"\xff\xd8\xff\xe0crop-jpeg\xff\xd9"
OVERVIEW = b"\xff\xd8\xff\xe0overview-jpeg\xff\xd9"


def _rows(n: int = 3) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        rid = str(uuid.UUID(int=i + 1))
        rows.append(
            {
                "read_id": rid,
                "time": T0 + timedelta(minutes=i),
                "camera_id": "=cam-1" if i == 2 else "cam-1",  # a formula-looking id stays text in CSV
                "plate": f"7ABC12{i}",
                "plate_norm": f"7ABC12{i}",
                "confidence": 0.9,
                "region": "us",
                "box": [1, 2, 3, 4],
                "char_confidences": [0.9] * 7,
                "candidates": [["7ABC12X", 0.4]],
                "track_length": 3,
                "provisional": False,
                "pass_id": f"p{i}",
                "image_key": None if i == 1 else f"evidence/7/{rid}",
                "received_at": T0 + timedelta(minutes=i, seconds=1),
            }
        )
    return rows


def _images(key: str, name: str) -> bytes | None:
    return {"crop.jpg": CROP, "overview.jpg": OVERVIEW}.get(name)


def _meta() -> BundleMeta:
    return BundleMeta(
        export_id=str(uuid.uuid4()),
        exported_at=T0 + timedelta(days=1),
        username="ivy",
        display_name="Ivy Investigator",
        organisation="PAPD",
        purpose="criminal investigation",
        case_number="24-001234",
        booking_number="EV-2026-0042",
        hold_id=7,
    )


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def bundle(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    built = write_bundle(tmp_path / "bundle", _rows(), _images, _meta(), key)
    return built.path


def _zip(folder: Path) -> Path:
    out = folder.with_suffix(".zip")
    with out.open("wb") as f:
        zip_bundle(folder, f, "evidence-x")
    return out


def test_a_fresh_bundle_verifies_with_what_it_should_hold(bundle: Path, key: Ed25519PrivateKey) -> None:
    result = verify_bundle(bundle, key.public_key())
    assert result.ok and result.signature_ok and not result.problems, result.problems
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert (manifest["case_number"], manifest["booking_number"], manifest["purpose"]) == (
        "24-001234",
        "EV-2026-0042",
        "criminal investigation",
    )
    assert manifest["exported_by"]["username"] == "ivy" and manifest["platewatch_version"]
    assert manifest["read_ids"] == [r["read_id"] for r in _rows()]
    paths = {f["path"] for f in manifest["files"]}
    rid0, rid1 = _rows()[0]["read_id"], _rows()[1]["read_id"]
    assert {"reads.csv", "reads.json", "README.txt", "SHA256SUMS", f"images/{rid0}-crop.jpg"} <= paths
    assert not any(p.startswith(f"images/{rid1}") for p in paths)  # the read without images
    assert result.files_checked == len(paths)
    csv_text = (bundle / "reads.csv").read_text()
    assert "'=cam-1" in csv_text and "7ABC120" in csv_text
    reads = json.loads((bundle / "reads.json").read_text())["reads"]
    assert reads[0]["images"]["crop"] == f"images/{rid0}-crop.jpg" and reads[1]["images"] == {}
    assert stat.S_IMODE((bundle / "reads.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700


def _changed_byte(b: Path) -> None:
    target = next(b.glob("images/*-crop.jpg"))
    data = bytearray(target.read_bytes())
    data[5] ^= 0x01
    target.write_bytes(bytes(data))


def _removed(b: Path) -> None:
    next(b.glob("images/*-overview.jpg")).unlink()


def _added(b: Path) -> None:
    (b / "notes.txt").write_text("added later\n")


def _edited_csv(b: Path) -> None:
    path = b / "reads.csv"
    path.write_text(path.read_text().replace("7ABC120", "7ABC129"))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_changed_byte, "changed: images/"),
        (_removed, "missing: images/"),
        (_added, "added: notes.txt"),
        (_edited_csv, "changed: reads.csv"),
    ],
)
@pytest.mark.parametrize("as_zip", [False, True])
def test_verify_names_a_changed_removed_or_added_file(
    bundle: Path, key: Ed25519PrivateKey, tamper: Callable[[Path], None], expected: str, as_zip: bool
) -> None:
    tamper(bundle)
    path = _zip(bundle) if as_zip else bundle
    result = verify_bundle(path, key.public_key())
    assert not result.ok
    assert result.signature_ok  # the manifest itself is intact: the files differ from it
    assert len(result.problems) == 1 and result.problems[0].startswith(expected), result.problems


def _resign(b: Path, forger: Ed25519PrivateKey, edit: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((b / "manifest.json").read_text())
    edit(manifest)
    data = json.dumps(manifest).encode()
    (b / "manifest.json").write_bytes(data)
    (b / "manifest.sig").write_bytes(forger.sign(data))


def test_a_forged_manifest_resigned_with_another_key_fails(bundle: Path, key: Ed25519PrivateKey) -> None:
    """The forger edits the CSV, fixes its hash in the manifest and re-signs: only the key betrays it."""
    _edited_csv(bundle)
    import hashlib

    digest = hashlib.sha256((bundle / "reads.csv").read_bytes()).hexdigest()

    def fix(m: dict[str, Any]) -> None:
        for f in m["files"]:
            if f["path"] == "reads.csv":
                f["sha256"], f["bytes"] = digest, (bundle / "reads.csv").stat().st_size

    forger = Ed25519PrivateKey.generate()
    _resign(bundle, forger, fix)
    assert verify_bundle(bundle, forger.public_key()).signature_ok  # self-consistent…
    result = verify_bundle(bundle, key.public_key())  # …but not with the department's key
    assert not result.ok and not result.signature_ok
    assert any(p.startswith("signature:") for p in result.problems), result.problems
    sums = verify_bundle(_zip(bundle), key.public_key())
    assert not sums.ok and not sums.signature_ok


def test_a_changed_manifest_or_a_missing_signature_fails(bundle: Path, key: Ed25519PrivateKey) -> None:
    path = bundle / "manifest.json"
    path.write_text(path.read_text().replace("EV-2026-0042", "EV-2026-0043"))
    result = verify_bundle(bundle, key.public_key())
    assert not result.ok and any(p.startswith("signature:") for p in result.problems)
    (bundle / "manifest.sig").unlink()
    result = verify_bundle(bundle, key.public_key())
    assert not result.ok and "missing: manifest.sig" in result.problems


def test_a_bundle_carrying_its_own_key_is_not_trusted_for_it(bundle: Path, key: Ed25519PrivateKey) -> None:
    """A forger adds their public key to the bundle and the manifest and signs with it."""
    forger = Ed25519PrivateKey.generate()
    pem = public_pem(forger.public_key())
    (bundle / "department.pem").write_text(pem)
    import hashlib

    def add_key(m: dict[str, Any]) -> None:
        m["files"].append(
            {"path": "department.pem", "sha256": hashlib.sha256(pem.encode()).hexdigest(), "bytes": len(pem)}
        )
        m["public_key"] = pem

    _resign(bundle, forger, add_key)
    result = verify_bundle(bundle, key.public_key())
    assert not result.ok and not result.signature_ok
    assert any("carries a key" in p for p in result.problems), result.problems
    # Even a genuine bundle with a key file dropped in is refused, the file named.
    genuine = verify_bundle(_genuine_with_key(bundle.parent, key, pem), key.public_key())
    assert not genuine.ok and genuine.signature_ok
    assert any(p.startswith("added: keys/dept.pem") and "key" in p for p in genuine.problems)


def _genuine_with_key(where: Path, key: Ed25519PrivateKey, pem: str) -> Path:
    built = write_bundle(where / "genuine", _rows(), _images, _meta(), key)
    (built.path / "keys").mkdir()
    (built.path / "keys" / "dept.pem").write_text(pem)
    return built.path


def test_a_zip_with_an_entry_escaping_the_folder_is_reported(bundle: Path, key: Ed25519PrivateKey) -> None:
    out = _zip(bundle)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("evidence-x/../evil.txt", b"x")
    result = verify_bundle(out, key.public_key())
    assert not result.ok and any("evil.txt" in p for p in result.problems), result.problems
    with pytest.raises(ValueError, match="not safe"):
        extract_zip(out, bundle.parent / "unpacked")


def test_zip_round_trip_unpacks_to_a_bundle_that_verifies(bundle: Path, key: Ed25519PrivateKey) -> None:
    out = _zip(bundle)
    assert verify_bundle(out, key.public_key()).ok
    n = extract_zip(out, bundle.parent / "unpacked")
    assert n == len(list(p for p in bundle.rglob("*") if p.is_file()))
    assert verify_bundle(bundle.parent / "unpacked", key.public_key()).ok


def test_the_signing_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    key = signing_key(None, tmp_path)
    path = tmp_path / "secrets" / "evidence-signing.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = signing_key(None, tmp_path)
    assert public_pem(again.public_key()) == public_pem(key.public_key())
    with pytest.raises(EvidenceKeyError, match="does not exist"):
        signing_key(tmp_path / "elsewhere.pem", tmp_path)
    with pytest.raises(EvidenceKeyError, match="private key"):
        load_public_key(path)


def test_cli_public_key_and_verify(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`export public-key` prints the site key; `export verify` exits 0, 1 on a problem, 2 on bad use."""
    monkeypatch.delenv("PLATEWATCH_CONFIG", raising=False)
    data_dir = tmp_path / "data"
    runner = CliRunner()
    env = {"PLATEWATCH_DATA_DIR": str(data_dir)}
    shown = runner.invoke(app, ["export", "public-key"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "BEGIN PUBLIC KEY" in shown.stdout
    key_path = tmp_path / "department.pem"
    key_path.write_text(shown.stdout)
    site_key = signing_key(None, data_dir)
    good = write_bundle(tmp_path / "site-bundle", _rows(), _images, _meta(), site_key).path
    ok = runner.invoke(app, ["export", "verify", str(good), "--public-key", str(key_path)])
    assert ok.exit_code == 0, ok.output
    assert "verified" in ok.output
    _changed_byte(good)
    (good / "extra.txt").write_text("x")
    bad = runner.invoke(app, ["export", "verify", str(_zip(good)), "--public-key", str(key_path)])
    assert bad.exit_code == 1, bad.output
    assert "changed: images/" in bad.output and "added: extra.txt" in bad.output
    other = runner.invoke(app, ["export", "verify", str(bundle), "--public-key", str(key_path)])
    assert other.exit_code == 1 and "signature" in other.output  # signed by another key
    missing = runner.invoke(app, ["export", "verify", str(tmp_path / "nope"), "--public-key", str(key_path)])
    assert missing.exit_code == 2
    shutil.rmtree(good)


def test_a_bundle_written_straight_into_a_zip_verifies_and_unpacks(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    """The server keeps each bundle as the zip it hands out."""
    meta = _meta()
    built = write_bundle(tmp_path / "b.zip", _rows(), _images, meta, key, zip_top="evidence-x")
    assert verify_bundle(built.path, key.public_key()).ok
    with zipfile.ZipFile(built.path) as zf:
        names = zf.namelist()
        assert all(n.startswith("evidence-x/") for n in names) and len(names) == built.files
        assert zf.getinfo("evidence-x/manifest.json").date_time[:3] == (2026, 3, 2)
    extract_zip(built.path, tmp_path / "out")
    assert verify_bundle(tmp_path / "out", key.public_key()).ok


def test_the_vehicle_and_state_a_read_carried_travel_with_it(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """A case may turn on "a blue car heading left": what the read said of the vehicle is exported;
    the body type, withheld everywhere as unreliable, is not."""
    rows = _rows(2)
    rows[0] |= {
        "colour": "blue",
        "colour_confidence": 0.91,
        "vehicle_type": "truck",
        "direction": "approaching",
        "heading": 180.0,
        "plateless": False,
        "state": "TX",
    }
    rows[1] |= {"plate": "", "plate_norm": "", "plateless": True}  # a pass with no readable plate
    built = write_bundle(tmp_path / "b", rows, _images, _meta(), key)
    assert verify_bundle(built.path, key.public_key()).ok
    reads = json.loads((built.path / "reads.json").read_text())["reads"]
    assert (reads[0]["colour"], reads[0]["colour_confidence"], reads[0]["state"]) == ("blue", 0.91, "TX")
    assert (reads[0]["direction"], reads[0]["heading"], reads[0]["plateless"]) == (
        "approaching",
        180.0,
        False,
    )
    assert reads[1]["plateless"] and reads[1]["colour"] is None and reads[1]["state"] is None
    assert all("vehicle_type" not in r for r in reads)
    lines = (built.path / "reads.csv").read_text().splitlines()
    header = lines[0].split(",")
    first = dict(zip(header, lines[1].split(","), strict=True))
    second = dict(zip(header, lines[2].split(","), strict=True))
    assert (first["colour"], first["state"], first["direction"], first["plateless"]) == (
        "blue",
        "TX",
        "approaching",
        "false",
    )
    assert second["plateless"] == "true" and second["colour"] == "" and "vehicle_type" not in header
