"""The `evidence` section: exports to portable media (policy 462.3) and the key that signs them.

The signing key is a secret like the TOTP key: by default it is generated once into
`<data_dir>/secrets/` (mode 0600) so a fresh install signs its first export without a step nobody
knows to take; a department that keeps its key elsewhere (a mounted secret) names the file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from .base import Section

#: The most reads one export (and one hold) carries: a bound on one request's work and on the media.
MAX_EXPORT_READS = 10_000


class EvidenceConfig(Section):
    """Evidence bundles: where the server keeps them, what signs them, how big one may be."""

    signing_key: Path | None = Field(
        None,
        title="Ed25519 private key (PEM, PKCS#8) that signs each bundle's manifest; "
        "null: one generated on first use in <data_dir>/secrets/evidence-signing.pem, mode 0600",
    )
    exports_dir: Path | None = Field(
        None, title="Where the server builds and keeps bundles (null: <data_dir>/exports)"
    )
    max_reads: int = Field(
        MAX_EXPORT_READS, ge=1, le=MAX_EXPORT_READS, title="The most reads one export may carry"
    )
