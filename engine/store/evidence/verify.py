"""Checking a bundle against the department's public key, as the verifier holds it.

Trust comes only from the key the verifier brings: the signature must verify over manifest.json's
exact bytes with that key, and then every file must be in the manifest with its SHA-256 and size,
and every file in the manifest must be there. Each difference is named (changed, missing, added),
not just counted. A bundle that carries a key of its own is reported: a key inside a bundle could
only ever vouch for itself, so it is never used, and a genuine bundle never carries one.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .archive import Source, open_source, safe_name
from .bundle import CONTROL_FILES, FORMAT, MANIFEST, SIGNATURE
from .keys import key_id

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEY_SUFFIXES = (".pem", ".pub", ".key", ".der", ".asc", ".gpg")
_KEY_MARKERS = (b"-----BEGIN", b"ssh-ed25519 ", b"ssh-rsa ")
_MANIFEST_KEY_FIELDS = ("public_key", "key", "pubkey", "verify_key")


class BundleUnreadable(ValueError):
    """Not a bundle folder or zip at all (missing, unreadable, not a zip)."""


@dataclass
class Verification:
    """What `verify_bundle` found; `ok` only when there is no problem at all."""

    problems: list[str] = field(default_factory=list)
    signature_ok: bool = False
    files_checked: int = 0
    manifest: dict[str, Any] | None = None
    key_id: str = ""

    @property
    def ok(self) -> bool:
        return self.signature_ok and not self.problems


def _carries_key(src: Source, name: str) -> bool:
    if name.lower().endswith(_KEY_SUFFIXES):
        return True
    if name.startswith("images/") and name.endswith(".jpg"):
        return False  # images are hashed like everything else; a key hidden in one cannot be used
    try:
        head = src.read(name)[:4096] if name not in CONTROL_FILES else b""
    except (OSError, KeyError, zipfile.BadZipFile):
        return False
    return any(m in head for m in _KEY_MARKERS)


def _listed(manifest: Any, result: Verification) -> dict[str, tuple[str, int]]:
    """The manifest's file list, each entry checked for shape; bad entries are problems."""
    if not isinstance(manifest, dict):
        result.problems.append("manifest.json is not a JSON object")
        return {}
    if manifest.get("format") != FORMAT:
        result.problems.append(f"manifest.json: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    for name in _MANIFEST_KEY_FIELDS:
        if name in manifest:
            result.problems.append(
                f"manifest.json carries a key ({name!r}): never used, it could only vouch for itself"
            )
    files = manifest.get("files")
    if not isinstance(files, list):
        result.problems.append("manifest.json has no list of files")
        return {}
    listed: dict[str, tuple[str, int]] = {}
    for entry in files:
        path = entry.get("path") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("bytes") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not safe_name(path) or path in CONTROL_FILES:
            result.problems.append(f"manifest.json lists a path that is not allowed: {str(path)[:200]!r}")
        elif not isinstance(digest, str) or not _SHA256.match(digest) or not isinstance(size, int):
            result.problems.append(f"manifest.json: the entry for {path} has no valid sha256 and size")
        elif path in listed:
            result.problems.append(f"manifest.json lists {path} twice")
        else:
            listed[path] = (digest, size)
    return listed


def _check(src: Source, key: Ed25519PublicKey, result: Verification) -> None:
    present = src.names()
    result.problems.extend(f"not a plain file: {name}" for name in sorted(src.odd))
    for name in CONTROL_FILES:
        if name not in present:
            result.problems.append(f"missing: {name}")
    if MANIFEST not in present:
        return
    manifest_bytes = src.read(MANIFEST)
    if SIGNATURE in present:
        try:
            key.verify(src.read(SIGNATURE), manifest_bytes)
            result.signature_ok = True
        except InvalidSignature:
            result.problems.append(
                "signature: manifest.json is not signed by the key you hold "
                "(the manifest was changed, or it was signed with another key)"
            )
    try:
        manifest = json.loads(manifest_bytes)
    except (ValueError, UnicodeDecodeError):
        result.problems.append("manifest.json is not valid JSON")
        return
    result.manifest = manifest if isinstance(manifest, dict) else None
    listed = _listed(manifest, result)
    for name in sorted(listed):
        want_digest, want_size = listed[name]
        if name not in present:
            result.problems.append(f"missing: {name}")
            continue
        digest, size = src.sha256(name)
        result.files_checked += 1
        if digest != want_digest or size != want_size:
            result.problems.append(f"changed: {name} (sha256 {digest}, manifest says {want_digest})")
    for name in sorted(present - set(listed) - set(CONTROL_FILES)):
        note = " (a key: never used, only the key you hold is trusted)" if _carries_key(src, name) else ""
        result.problems.append(f"added: {name}{note}")
    for name in sorted(set(listed) & present):
        if _carries_key(src, name):
            result.problems.append(f"carries a key: {name} (never used; a genuine bundle holds none)")


def verify_bundle(path: Path, key: Ed25519PublicKey) -> Verification:
    """Check the bundle folder or zip at `path` with the verifier's own public key."""
    result = Verification(key_id=key_id(key))
    if not path.exists():
        raise BundleUnreadable(f"{path} does not exist")
    try:
        with open_source(path) as src:
            _check(src, key, result)
    except zipfile.BadZipFile:
        raise BundleUnreadable(f"{path} is neither a bundle folder nor a zip file") from None
    except OSError as exc:
        raise BundleUnreadable(f"cannot read {path} ({exc.strerror or exc})") from None
    return result
