"""A stopped server's entry still names its pid: the supervisor reaps a dead server before the
new one is in place, and `Services.pids()`, `doctor` and watchers read it outside its lock."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from platewatch.engine.services.process import ChildProcess


def test_pid_survives_stop_and_a_never_started_process_has_none(tmp_path: Path) -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    child = ChildProcess(
        "sleeper", [sleep, "30"], tmp_path / "sleeper.log", stop_signal=signal.SIGTERM, stop_timeout_s=2.0
    )
    with pytest.raises(RuntimeError, match="never started"):
        _ = child.pid
    child.start()
    pid = child.pid
    assert child.running()
    child.stop()
    assert not child.running()
    assert child.pid == pid  # reaped, not forgotten
    child.start()
    assert child.pid != pid  # the new run's own
    child.stop()
