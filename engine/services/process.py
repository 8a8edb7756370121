"""Embedded servers as child processes that cannot outlive us.

Three ways a child could be orphaned, and what stops each:
- we exit normally or by an exception: `stop()` (called by `Services` from `__exit__` and atexit);
- Ctrl-C: the child runs in its own session, so the terminal's SIGINT reaches only us and we stop the
  children in order instead of them dying half-way through a checkpoint;
- we are SIGKILLed: the kernel sends the child `prctl(PR_SET_PDEATHSIG)`'s signal when the thread that
  started it dies. That is a *thread*, so start children from a thread that lives as long as they should
  (the main thread), not from a short-lived worker thread.

Children run with umask 077 and their logs are 0600: what a server writes (Redis's append-only file,
a log line quoting a plate) is its owner's alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TypeVar

import psutil

from .credentials import PRIVATE_FILE, UMASK
from .errors import ServiceStartError, ServiceUnavailable

log = logging.getLogger("platewatch.services")
T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
# Looked up once here: the function that runs between fork and exec must not import or allocate much.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent(parent_pid: int, sig: int) -> Callable[[], None]:
    def preexec() -> None:
        os.umask(UMASK)
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


class ChildProcess:
    """One server process: started in its own session, logged to a file, stopped and reaped for sure."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: pwd.struct_passwd | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.stop_signal = stop_signal
        self.stop_timeout_s = stop_timeout_s
        self._popen: subprocess.Popen[bytes] | None = None
        #: The last run's pid, kept once it is reaped: a supervisor swapping a dead server for a new
        #: one stops (reaps) the old entry first, and a reader outside its lock must still get a pid.
        self._last_pid: int | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int:
        """The running process's pid, or the last run's once it was stopped and reaped."""
        if self._popen is not None:
            return self._popen.pid
        if self._last_pid is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._last_pid

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def exit_status(self) -> int | None:
        """How it ended (negative: the signal that killed it); None while it runs or before it started."""
        return self._popen.poll() if self._popen is not None else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
        os.fchmod(fd, PRIVATE_FILE)  # a log from before was 0644
        self._log = os.fdopen(fd, "ab")  # lives as long as the child
        self._log_offset = self._log.tell()
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self._log.write(f"=== {stamp} platewatch starts: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        user_args: dict[str, object] = {}
        if self.user is not None:
            user_args = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        try:
            self._popen = subprocess.Popen(  # type: ignore[call-overload]
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid(), int(self.stop_signal)),
                **user_args,
            )
        except OSError as exc:
            self._log.close()
            self._log = None
            raise ServiceStartError(
                f"embedded {self.name}: cannot run {self.argv[0]}: {exc.strerror}"
            ) from exc
        log.debug("started %s (pid %d)", self.name, self.pid)

    def run_to_end(self, timeout_s: float) -> None:
        """For one-shot tools (initdb): start, wait, and raise with the log's tail unless it succeeds."""
        self.start()
        assert self._popen is not None
        try:
            status = self._popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ServiceStartError(
                f"{self.name} did not finish within {timeout_s:g} s; "
                f"{self.log_path} ends with:\n{self.log_tail()}"
            ) from None
        self.stop()
        if status != 0:
            raise ServiceStartError(
                f"{self.name} failed (status {status}); {self.log_path} ends with:\n{self.log_tail()}"
            )

    def wait_ready(self, check: Callable[[], T], timeout_s: float) -> T:
        """Poll `check` until it returns; stop the child and quote its log if it exits or never answers."""
        deadline = time.monotonic() + timeout_s
        delay = 0.005
        reason = "not started"
        while True:
            if self._popen is None or self._popen.poll() is not None:
                status = self._popen.returncode if self._popen is not None else None
                self.stop()
                raise ServiceStartError(
                    f"embedded {self.name} exited (status {status}) before it answered; "
                    f"{self.log_path} ends with:\n{self.log_tail()}"
                )
            try:
                return check()
            except ServiceUnavailable as exc:
                reason = exc.reason
            except BaseException:
                self.stop()
                raise
            if time.monotonic() >= deadline:
                self.stop()
                raise ServiceStartError(
                    f"embedded {self.name} did not answer within {timeout_s:g} s ({reason}); "
                    f"{self.log_path} ends with:\n{self.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def stop(self) -> None:
        """Ask politely (the server's own clean-shutdown signal), then SIGKILL; reap it and its children."""
        popen, self._popen = self._popen, None
        if popen is None:
            return
        self._last_pid = popen.pid
        try:
            if popen.poll() is None:
                descendants = _descendants(popen.pid)
                popen.send_signal(self.stop_signal)
                try:
                    popen.wait(self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    log.warning(
                        "%s ignored %s for %g s: killing it",
                        self.name,
                        self.stop_signal.name,
                        self.stop_timeout_s,
                    )
                    popen.kill()
                    popen.wait()
                _, alive = psutil.wait_procs(descendants, timeout=2.0)
                for proc in alive:
                    log.warning("%s left pid %d behind: killing it", self.name, proc.pid)
                    with contextlib.suppress(psutil.NoSuchProcess):
                        proc.kill()
            popen.wait()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines this run wrote to its log (earlier runs' lines are not this failure's cause)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode(errors="replace")
        except OSError as exc:
            return f"(log unreadable: {exc.strerror})"
        return "\n".join("  " + line for line in text.splitlines()[-lines:]) or "  (empty)"


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
        return children
    except psutil.Error:
        return []


def free_port(host: str) -> int:
    """A port nobody listens on right now (a race remains; `start_on_port` retries when it is lost)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too, so a port in TIME_WAIT is free for them as well.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def start_on_port(
    name: str,
    host: str,
    port: int,
    setting: str,
    launch: Callable[[int], ChildProcess],
    check: Callable[[int], T],
    timeout_s: float,
) -> tuple[ChildProcess, int, T]:
    """Start a server on `port` (0: a free one, retried if another process takes it first)."""
    attempts = 3 if port == 0 else 1
    for attempt in range(1, attempts + 1):
        chosen = port or free_port(host)
        if port and port_in_use(host, port):
            raise ServiceStartError(
                f"embedded {name}: port {port} on {host} is already in use (another platewatch running? "
                f"set {setting}, or 0 for any free port)"
            )
        child = launch(chosen)
        child.start()
        try:
            return child, chosen, child.wait_ready(functools.partial(check, chosen), timeout_s)
        except ServiceStartError:
            if attempt == attempts or not port_in_use(host, chosen):
                raise
            log.info("%s lost port %d to another process: retrying on another", name, chosen)
    raise AssertionError("unreachable")
