"""`platewatch export …` and `platewatch hold …`: evidence to portable media and evidence holds.

Creating, downloading and recording custody of an export, and placing, releasing and listing
holds, read or keep data, so they go through the API as the logged-in user (`platewatch login`):
the same role, training, purpose and case checks as the browser, the same access log, and only a
supervisor releases a hold. `export verify` and `export public-key` are local: checking a bundle
needs nothing but the bundle and a public key the verifier already holds.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from platewatch.engine.commands.api_client import (
    LOGIN_FIRST,
    ApiRefused,
    call_as_user,
    client,
    load_login,
    refusal,
)
from platewatch.engine.commands.context import iso_time, settings
from platewatch.engine.store.evidence.archive import extract_zip
from platewatch.engine.store.evidence.keys import (
    EvidenceKeyError,
    key_file,
    key_id,
    load_public_key,
    public_pem,
    signing_key,
)
from platewatch.engine.store.evidence.verify import BundleUnreadable, verify_bundle

out = Console()
err = Console(stderr=True)
export_app = typer.Typer(
    help="Evidence exports to portable media (policy 462.3): create, download, custody, verify.",
    no_args_is_help=True,
)
hold_app = typer.Typer(
    help="Evidence holds: keep reads (and images) past retention for a case (via the API).",
    no_args_is_help=True,
)
_CUSTODY = ("copied", "handed_over", "received")


# --- the API -----------------------------------------------------------------------------------


@contextmanager
def _session() -> Iterator[httpx.Client]:
    stored = load_login()
    if stored is None:
        err.print(LOGIN_FIRST, highlight=False)
        raise typer.Exit(1)
    if stored.expired():
        err.print(f"your login ended at {stored.expires_at}: run `platewatch login` again", highlight=False)
        raise typer.Exit(1)
    with client(stored.api, stored.token) as http:
        yield http


def _download(export_id: str, purpose: str, case: str, target: Path, as_zip: bool) -> Path:
    """Fetch the export's zip; keep it as a zip, or unpack it into a new folder."""
    params = {"purpose": purpose, "case": case}
    with _session() as http, tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "bundle.zip"
        try:
            with http.stream("GET", f"/api/v1/evidence/exports/{export_id}/bundle", params=params) as r:
                if not r.is_success:
                    r.read()
                    raise refusal(r)
                with part.open("wb") as f:
                    for chunk in r.iter_bytes():
                        f.write(chunk)
        except httpx.HTTPError as exc:
            err.print(f"cannot download the bundle ({type(exc).__name__})", highlight=False)
            raise typer.Exit(1) from None
        except ApiRefused as exc:
            err.print(f"[red]refused[/red]: {exc}", highlight=False)
            raise typer.Exit(2 if exc.status in (404, 422) else 1) from None
        name = f"evidence-{export_id}"
        if target.is_dir():
            target = target / (name + (".zip" if as_zip else ""))
        if target.exists():
            err.print(f"{target} exists; give a new name", highlight=False)
            raise typer.Exit(2)
        if as_zip:
            target.write_bytes(part.read_bytes())
            target.chmod(0o600)
        else:
            extract_zip(part, target)
    return target


def _read_ids(args: list[str] | None, from_search: str | None) -> list[str]:
    """Ids from the arguments, and from `platewatch search --json` output (or one id a line)."""
    ids = list(args or ())
    if from_search:
        text = sys.stdin.read() if from_search == "-" else Path(from_search).read_text(encoding="utf-8")
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    ids.append(str(json.loads(line)["read_id"]))
                except (ValueError, KeyError, TypeError):
                    raise typer.BadParameter(f"not a search result line: {line[:80]}") from None
            else:
                ids.append(line)
    if not ids:
        raise typer.BadParameter("give read ids, or --from-search with `platewatch search --json` output")
    return ids


def _export_table(exports: list[dict[str, Any]]) -> Table:
    table = Table()
    for col in ("export", "exported (UTC)", "by", "case", "booking", "reads", "custody"):
        table.add_column(col)
    for e in exports:
        steps = "; ".join(
            f"{c['event']} {c['at'][:16]} {c['actor']}" + (f" → {c['to']}" if c["to"] else "")
            for c in e["custody"]
        )
        table.add_row(
            e["export_id"],
            e["exported_at"][:19],
            e["exported_by"],
            e["case_number"],
            e["booking_number"],
            str(e["reads"]),
            steps,
        )
    return table


# --- export ------------------------------------------------------------------------------------


@export_app.command("create")
def export_create(
    case: Annotated[str, typer.Option("--case", help="Case or incident number.")],
    booking: Annotated[str, typer.Option("--booking", help="Evidence booking number (property room).")],
    purpose: Annotated[str, typer.Option(help="Why, one of access.purposes (policy 462.2, 462.4(b)).")],
    read_ids: Annotated[list[str] | None, typer.Argument(help="Read ids to export.")] = None,
    from_search: Annotated[
        str | None,
        typer.Option("--from-search", help="File (or - for stdin) of `platewatch search --json` lines."),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Download the bundle here (a new folder, or a zip with --zip)."),
    ] = None,
    as_zip: Annotated[bool, typer.Option("--zip", help="Keep the download as one zip file.")] = False,
) -> None:
    """Export reads as a signed bundle: they go under an evidence hold for the case, logged."""
    ids = _read_ids(read_ids, from_search)
    body = {"read_ids": ids, "case": case, "booking": booking, "purpose": purpose}
    made = call_as_user("POST", "/api/v1/evidence/exports", errors=err, json=body)
    out.print(
        f"export {made['export_id']}: {made['reads']} reads, {made['files']} files, {made['bytes']} bytes;"
        f" hold {made['hold_id']} for case {made['case_number']}; manifest sha256 {made['manifest_sha256']}",
        highlight=False,
    )
    if out_path is not None:
        where = _download(made["export_id"], purpose, case, out_path, as_zip)
        out.print(f"bundle written to {where}", highlight=False)
        out.print(
            "check it with the department's public key: platewatch export verify"
            f" {where} --public-key department.pem",
            highlight=False,
        )


@export_app.command("download")
def export_download(
    export_id: Annotated[str, typer.Argument(help="The export's id.")],
    case: Annotated[str, typer.Option("--case", help="The export's case number.")],
    purpose: Annotated[str, typer.Option(help="Why, one of access.purposes.")],
    out_path: Annotated[Path, typer.Option("--out", help="A new folder, or a zip with --zip.")],
    as_zip: Annotated[bool, typer.Option("--zip", help="Keep the download as one zip file.")] = False,
) -> None:
    """Download an export's bundle (recorded in its custody and the access log)."""
    where = _download(export_id, purpose, case, out_path, as_zip)
    out.print(f"bundle written to {where}", highlight=False)


@export_app.command("list")
def export_list(
    case: Annotated[str | None, typer.Option("--case", help="Only this case's exports.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Exports, newest first, with their chain of custody."""
    found = call_as_user("GET", "/api/v1/evidence/exports", errors=err, params={"case": case} if case else {})
    if as_json:
        print(json.dumps(found, indent=1))
    else:
        out.print(_export_table(found))


@export_app.command("custody")
def export_custody(
    export_id: Annotated[str, typer.Argument(help="The export's id.")],
    event: Annotated[str, typer.Option("--event", help="copied, handed_over or received.")],
    to: Annotated[
        str, typer.Option("--to", help="The media (e.g. DVD-R serial), or whom it went to/came from.")
    ],
    note: Annotated[str, typer.Option(help="Anything else the record should say.")] = "",
) -> None:
    """Record a step of the chain of custody, as the logged-in user, now."""
    if event not in _CUSTODY:
        raise typer.BadParameter(f"--event is one of {', '.join(_CUSTODY)}")
    done = call_as_user(
        "POST",
        f"/api/v1/evidence/exports/{export_id}/custody",
        errors=err,
        json={"event": event, "to": to, "note": note},
    )
    out.print(f"recorded: {done['event']} at {done['at']} by {done['actor']} → {done['to']}", highlight=False)


@export_app.command("verify")
def export_verify(
    bundle: Annotated[Path, typer.Argument(help="The bundle: its folder, or the zip.")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="The department's public key (PEM) you already hold.")
    ],
) -> None:
    """Check every file's SHA-256 and the signature; name each changed, added or missing file.

    Exit 0: intact and signed by the key given. 1: anything else. 2: the key or bundle is unreadable.
    """
    try:
        key = load_public_key(public_key)
        result = verify_bundle(bundle, key)
    except (EvidenceKeyError, BundleUnreadable) as exc:
        err.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    m = result.manifest or {}
    for problem in result.problems:
        out.print(f"[red]✗[/red] {problem}", highlight=False, soft_wrap=True)
    if result.ok:
        out.print(
            f"verified: {result.files_checked} files match manifest.json, signed by {result.key_id};"
            f" export {m.get('export_id')}, case {m.get('case_number')},"
            f" booking {m.get('booking_number')}, {len(m.get('read_ids') or [])} reads,"
            f" exported {m.get('exported_at')} by {(m.get('exported_by') or {}).get('username')}",
            highlight=False,
            soft_wrap=True,
        )
        return
    out.print(f"NOT VERIFIED: {len(result.problems)} problem(s) with {bundle}", highlight=False)
    raise typer.Exit(1)


@export_app.command("public-key")
def export_public_key() -> None:
    """Print the public key that checks this site's bundles (PEM); give it to verifiers out of band.

    The signing key is made on first use (evidence.signing_key, or <data_dir>/secrets/) if absent.
    """
    s = settings()
    try:
        key = signing_key(s.evidence.signing_key, s.data_dir).public_key()
    except EvidenceKeyError as exc:
        err.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    print(public_pem(key), end="")
    err.print(
        f"key id {key_id(key)} (signing key {key_file(s.evidence.signing_key, s.data_dir)})", highlight=False
    )


# --- hold --------------------------------------------------------------------------------------


def _hold_table(holds: list[dict[str, Any]]) -> Table:
    table = Table()
    for col in ("hold", "case", "placed", "by", "keeps", "reads", "released"):
        table.add_column(col)
    for h in holds:
        keeps = ", ".join(
            x
            for x in (
                f"{len(h['read_ids'])} ids" if h["read_ids"] else "",
                f"plate {h['plate']}" if h["plate"] else "",
                f"cameras {','.join(h['cameras'])}" if h["cameras"] else "",
                f"from {h['time_from'][:16]}" if h["time_from"] else "",
                f"to {h['time_to'][:16]}" if h["time_to"] else "",
            )
            if x
        )
        released = (
            f"{h['released_at'][:10]} by {h['released_by']}: {h['release_reason']}"
            if h["released_at"]
            else ""
        )
        table.add_row(
            str(h["hold_id"]),
            h["case_number"],
            h["created_at"][:10],
            h["created_by"],
            keeps,
            str(h["reads"]),
            released,
        )
    return table


@hold_app.command("add")
def hold_add(
    case: Annotated[str, typer.Option("--case", help="Case or incident number the hold is for.")],
    purpose: Annotated[str, typer.Option(help="Why, one of access.purposes.")],
    read_id: Annotated[
        list[str] | None, typer.Option("--read-id", help="A read to keep (repeatable).")
    ] = None,
    plate: Annotated[str | None, typer.Option(help="Keep every read of this plate.")] = None,
    camera: Annotated[
        list[str] | None, typer.Option("--camera", help="Only these cameras (repeatable).")
    ] = None,
    time_from: Annotated[str | None, typer.Option("--from", help="ISO 8601 start (UTC if no zone).")] = None,
    time_to: Annotated[str | None, typer.Option("--to", help="ISO 8601 end, exclusive.")] = None,
    reason: Annotated[str, typer.Option(help="Why (e.g. discovery request).")] = "",
) -> None:
    """Place an evidence hold as the logged-in user; matching reads and images are kept past retention."""
    body: dict[str, Any] = {
        "case": case,
        "purpose": purpose,
        "reason": reason,
        "read_ids": list(read_id or ()),
        "plate": plate,
        "cameras": list(camera or ()),
    }
    for name, text in (("from", time_from), ("to", time_to)):
        when = iso_time(text)
        if when is not None:
            body[name] = when.isoformat()
    hold = call_as_user("POST", "/api/v1/evidence/holds", errors=err, json=body)
    out.print(_hold_table([hold]))


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[int, typer.Argument(help="The hold's number (see `hold list`).")],
    reason: Annotated[str, typer.Option(help="Why it is released (recorded).")],
) -> None:
    """Release a hold (supervisors only): recorded, its copies deleted; the reads then age out."""
    hold = call_as_user(
        "POST", f"/api/v1/evidence/holds/{hold_id}/release", errors=err, json={"reason": reason}
    )
    out.print(_hold_table([hold]))


@hold_app.command("list")
def hold_list(
    case: Annotated[str | None, typer.Option("--case", help="Only this case's holds.")] = None,
    active: Annotated[bool, typer.Option(help="Only holds not released.")] = False,
) -> None:
    """Evidence holds with what they keep and how many reads they hold."""
    params: dict[str, str] = {"active": "true" if active else "false"}
    if case:
        params["case"] = case
    out.print(_hold_table(call_as_user("GET", "/api/v1/evidence/holds", errors=err, params=params)))
