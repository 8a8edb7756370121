"""Noticing that the broker lost a running worker's topics and offsets, and stopping that worker.

Why stop rather than carry on: the embedded broker keeps everything in memory, so after it restarts
a worker that outlived it holds consumer positions of partitions that no longer exist. aiokafka
retries such an offset commit for ever (UnknownTopicOrPartition is "retriable"): an error line every
100-150 ms (2,776 in two minutes in bench pipeline --faults broker), and Faust's shutdown waits on
that commit, so SIGTERM never ended the worker. Declaring the topics again from the running worker
was tried and withdrawn: its old positions were then committed into the empty broker and the next
worker skipped that many new reads (tests/e2e/test_up.py stored 9 of 12). A fresh process starts
from clean positions, so the worker logs one error and exits with `EXIT_BROKER_LOST`, and whatever
supervises it (`platewatch up`, compose's restart policy, systemd) starts a clean one.

Two signs, whichever comes first:

- the camera catalog sees pw.cameras end lower than it did (`RestartWatch`, engine/ingest), which a
  Kafka log never does;
- a topic this worker consumes has another number of partitions than when it first saw it
  (`PartitionCounts`): tansu makes a topic that a client names before anyone declared it, with 4
  partitions, and the worker's consumer names them all as it rejoins the empty broker's group;
- offset commits fail with UnknownTopicOrPartition for `LOST_AFTER_S` on end (`CommitFailureWatch`):
  a topic this worker consumes is gone, whatever the broker. Read from aiokafka's own log records,
  since it retries inside `commit()` and never hands the error to the caller; the repeats of a
  streak are kept out of the log (the first one and the worker's own error say it all).

`ShutdownDeadline` is the other half: whatever a stop waits on (a commit to a broker that lost its
topics, a send to one that is away), the process ends within a bounded time of being asked to.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("platewatch.worker")

#: EX_TEMPFAIL: a fresh start is expected to work.
EXIT_BROKER_LOST = 75
#: How long commits must keep failing on vanished partitions before the worker gives up on them.
LOST_AFTER_S = 5.0
#: A gap this long between two failures ends a streak (aiokafka retries every 100 ms).
STREAK_GAP_S = 3.0
#: Longest a worker's stop may take once asked (SIGTERM). `platewatch up` waits 20 s before SIGKILL;
#: a clean stop (the cameras' final reads, the last commit) takes a few seconds.
SHUTDOWN_DEADLINE_S = 18.0
#: After the broker lost its state there is nothing left to hand over: stop soon.
LOST_SHUTDOWN_DEADLINE_S = 5.0
#: aiokafka's logger for its group coordinator (offset commits).
COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"


class CommitFailureWatch(logging.Filter):
    """A filter on aiokafka's coordinator logger: calls `on_lost(reason)` once commits have failed on
    vanished partitions for `lost_after_s`, and lets only the first failure of a streak through."""

    def __init__(
        self,
        on_lost: Callable[[str], None],
        *,
        lost_after_s: float = LOST_AFTER_S,
        gap_s: float = STREAK_GAP_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._on_lost = on_lost
        self._lost_after_s = lost_after_s
        self._gap_s = gap_s
        self._clock = clock
        self._first: float | None = None
        self._last = 0.0
        self.failures = 0
        self.reported = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not _vanished_partition(record):
            return True
        now = self._clock()
        if self._first is None or now - self._last > self._gap_s:
            self._first, self.failures = now, 0
        self._last = now
        self.failures += 1
        if not self.reported and now - self._first >= self._lost_after_s:
            self.reported = True
            self._on_lost(
                f"{self.failures} offset commits in {now - self._first:.0f} s refused: "
                "the partitions this worker holds are gone from the broker"
            )
        return self.failures == 1

    def install(self) -> None:
        logging.getLogger(COORDINATOR_LOGGER).addFilter(self)

    def remove(self) -> None:
        logging.getLogger(COORDINATOR_LOGGER).removeFilter(self)


def _vanished_partition(record: logging.LogRecord) -> bool:
    """aiokafka's "OffsetCommit failed … with offset …: UnknownTopicOrPartitionError"."""
    if not str(record.msg).startswith("OffsetCommit failed"):
        return False
    args = record.args if isinstance(record.args, tuple) else ()
    return any("UnknownTopicOrPartition" in str(a) for a in args)


class PartitionCounts:
    """The partition count of each topic as first seen; one that changes was made again (or, on a
    real cluster, grown by its operator, after which a fresh start is harmless too)."""

    def __init__(self) -> None:
        self._first: dict[str, int] = {}

    def changed(self, counts: Mapping[str, int | None]) -> list[str]:
        """'topic: 2 → 4 partitions' for each topic whose count differs from its first; unknown
        counts (None: not in the consumer's metadata yet) are skipped."""
        found = []
        for topic, count in sorted(counts.items()):
            if count is None:
                continue
            first = self._first.setdefault(topic, count)
            if count != first:
                found.append(f"{topic}: {first} → {count} partitions")
        return found


class ShutdownDeadline:
    """Ends the process with `code` if it is still alive `seconds` after `start` (a daemon thread).

    Why `os._exit`: what hangs is a retry loop inside the Kafka client, which no exception or
    cancellation from outside reaches; the embedded services this process may have started get
    their parent-death signal from the kernel (services/process.py), as after a crash.
    """

    def __init__(self, exit_code: Callable[[], int]) -> None:
        self._exit_code = exit_code
        self._started = threading.Lock()
        self._timer: threading.Timer | None = None

    def start(self, seconds: float, why: str) -> None:
        """Arm the deadline; a second call only shortens it."""
        with self._started:
            timer = threading.Timer(seconds, self._expire, args=(seconds, why))
            timer.daemon = True
            timer.start()
            if self._timer is not None:  # both run; whichever fires first ends the process
                log.debug("a second stop deadline of %.0f s armed (%s)", seconds, why)
            self._timer = timer

    def _expire(self, seconds: float, why: str) -> None:
        code = self._exit_code()
        # After the broker lost its state the hang is expected (its own error line said why).
        level = logging.WARNING if code == EXIT_BROKER_LOST else logging.ERROR
        log.log(level, "the worker did not stop within %.0f s of %s; exiting with %d", seconds, why, code)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(code)
