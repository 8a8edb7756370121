"""Camera URLs: credentials from the environment, the WHEP endpoint and file path they name.

Passwords do not belong in YAML or the database in the clear, so a URL may name environment
variables (`rtsp://admin:${CAM1_PASSWORD}@10.0.0.5/stream1`) that are filled in only when the
stream is opened. Whatever shows a camera URL passes it through
`platewatch.engine.redaction.redact_url`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from platewatch.engine.config.camera import CameraUrlError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_credentials(url: str, env: dict[str, str] | None = None) -> str:
    """Fill `${NAME}` from the environment; a missing variable is an error, never an empty password."""
    source = os.environ if env is None else env

    def fill(match: re.Match[str]) -> str:
        name = match[1]
        if name not in source:
            raise CameraUrlError(f"camera URL needs environment variable {name}, which is not set")
        return source[name]

    return _ENV.sub(fill, url)


def whep_endpoint(url: str) -> str:
    """The HTTP URL to POST the offer to (`whep+https://h/x` -> `https://h/x`)."""
    if url.startswith("whep+"):
        return url[len("whep+") :]
    if url.startswith("whep://"):
        return "http://" + url[len("whep://") :]
    return url


def file_path(url: str) -> Path:
    return Path(urlsplit(url).path if url.startswith("file://") else url)
