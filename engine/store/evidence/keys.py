"""The department's evidence signing key: Ed25519, loaded from configuration or made once.

The private key signs manifests on the server; the public key is what a prosecutor, a defence
expert or a court clerk is given ahead of time, out of band, to check bundles with. A verifier must
never take the key from the bundle itself (anyone who can change a bundle can re-sign it with a key
of their own), so nothing here reads a key from a bundle.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger(__name__)

KEY_FILE_NAME = "evidence-signing.pem"
_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600


class EvidenceKeyError(ValueError):
    """A key that cannot be read or used; the message names the file and what to do."""


def default_key_file(data_dir: Path) -> Path:
    return data_dir / "secrets" / KEY_FILE_NAME


def key_file(configured: Path | None, data_dir: Path) -> Path:
    """`evidence.signing_key` when set, else the generated key's place under the data directory."""
    return configured.expanduser() if configured is not None else default_key_file(data_dir)


def _generate(path: Path) -> Ed25519PrivateKey | None:
    """Write a new key to `path` (0600, exclusively); None when another process made it first."""
    path.parent.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
    path.parent.chmod(_PRIVATE_DIR)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE)
    except FileExistsError:
        return None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    log.info(
        "generated the evidence signing key in %s (mode 0600); key id %s", path, key_id(key.public_key())
    )
    return key


def signing_key(configured: Path | None, data_dir: Path) -> Ed25519PrivateKey:
    """The private key: the configured file, or the default one, generated on first use.

    A configured file that is missing is an error, not a reason to make a new key: a site that
    names its key expects bundles signed with that one (a mount that failed must not change keys).
    """
    path = key_file(configured, data_dir)
    if not path.exists():
        if configured is not None:
            raise EvidenceKeyError(f"evidence.signing_key names {path}, which does not exist")
        made = _generate(path)
        if made is not None:
            return made
    try:
        data = path.read_bytes()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise EvidenceKeyError(f"cannot read the evidence signing key {path} ({exc.strerror})") from None
    if mode & 0o077:
        log.warning("the evidence signing key %s is readable by other users (mode %04o)", path, mode)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise EvidenceKeyError(
            f"{path} is not an unencrypted PEM private key (PKCS#8); make one with "
            "`openssl genpkey -algorithm ed25519`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceKeyError(f"{path} is not an Ed25519 key (evidence bundles are signed with Ed25519)")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for a public key (SHA-256 of its raw 32 bytes), printed beside it and in manifests.

    It lets a person see which key a bundle claims; it proves nothing (the signature does).
    """
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The verifier's own copy of the department's public key (PEM, as `export public-key` prints)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvidenceKeyError(f"cannot read the public key {path} ({exc.strerror})") from None
    if b"PRIVATE KEY" in data:
        raise EvidenceKeyError(
            f"{path} holds a private key; verify with the public key (`platewatch export public-key`)"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise EvidenceKeyError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceKeyError(f"{path} is not an Ed25519 public key")
    return key
