"""A note in the data directory of which embedded services a running platewatch owns.

`platewatch up` starts the embedded services once; `platewatch doctor`, `migrate` or a second
`worker` started later in another terminal read this note and join those services instead of
failing on a busy port or starting a second, separate set. The note names its owner's pid and is
ignored once that process is gone, so a crash never leaves a lie behind for long. The note holds
addresses, never passwords: a joiner adds those from `<data_dir>/secrets/` (supervisor.py).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import psutil

NOTE = "running.json"


def _note(directory: Path) -> Path:
    return directory / NOTE


def publish(directory: Path, services: dict[str, dict[str, Any]]) -> None:
    """Record the services this process owns (name → {url, version}); atomic replace."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = _note(directory).with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps({"pid": os.getpid(), "services": services}))
    tmp.replace(_note(directory))


def withdraw(directory: Path) -> None:
    """Remove the note if this process wrote it."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(_note(directory).read_text()).get("pid") == os.getpid():
            _note(directory).unlink()


def running(directory: Path) -> dict[str, dict[str, Any]]:
    """Services another live process owns here (name → {url, version}); empty when none."""
    try:
        data = json.loads(_note(directory).read_text())
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if pid == os.getpid() or not psutil.pid_exists(pid):
        return {}
    services = data.get("services")
    return services if isinstance(services, dict) else {}
