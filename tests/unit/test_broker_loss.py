"""The worker's signs that the broker lost its state, its bounded stop, and its static group id."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from platewatch.engine.services.broker_loss import COORDINATOR_LOGGER, CommitFailureWatch, PartitionCounts
from platewatch.engine.services.group_member import claim_member_slot


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _commit_failure(error: str = "UnknownTopicOrPartitionError") -> logging.LogRecord:
    """The record aiokafka's coordinator logs for a partition the broker does not know."""
    return logging.LogRecord(
        COORDINATOR_LOGGER,
        logging.ERROR,
        __file__,
        1,
        "OffsetCommit failed for group %s on partition %s with offset %s: %s",
        ("pw", "TopicPartition(topic='pw.reads', partition=0)", "OffsetAndMetadata(offset=7)", error),
        None,
    )


def test_commits_refused_for_five_seconds_on_end_mean_the_broker_lost_the_partitions() -> None:
    lost: list[str] = []
    clock = _Clock()
    watch = CommitFailureWatch(lost.append, clock=clock)
    shown = []
    for _ in range(40):  # aiokafka retries every 100 ms, then waits for the answer
        shown.append(watch.filter(_commit_failure()))
        clock.now += 0.125
    assert lost == []  # under 5 s: a broker failing over may take that long
    shown.append(watch.filter(_commit_failure()))
    assert len(lost) == 1 and "41 offset commits in 5 s refused" in lost[0]
    assert shown.count(True) == 1  # the streak's first line only; the worker's own error says the rest
    for _ in range(100):
        watch.filter(_commit_failure())
        clock.now += 0.1
    assert len(lost) == 1  # said once


def test_failures_apart_or_of_other_kinds_are_no_sign() -> None:
    lost: list[str] = []
    clock = _Clock()
    watch = CommitFailureWatch(lost.append, clock=clock)
    for _ in range(10):  # one failure every 4 s for 40 s: each its own short streak
        assert watch.filter(_commit_failure())
        clock.now += 4.0
    other = _commit_failure("GroupAuthorizationFailedError")
    for _ in range(100):
        assert watch.filter(other)  # not ours to judge, and always shown
        clock.now += 0.1
    unrelated = logging.LogRecord(
        COORDINATOR_LOGGER, logging.INFO, __file__, 1, "Joined group %s", ("pw",), None
    )
    assert watch.filter(unrelated)
    assert lost == []


def test_the_watch_reads_the_records_aiokafka_logs(caplog: pytest.LogCaptureFixture) -> None:
    lost: list[str] = []
    clock = _Clock()
    watch = CommitFailureWatch(lost.append, lost_after_s=0.5, clock=clock)
    watch.install()
    try:
        logger = logging.getLogger(COORDINATOR_LOGGER)
        with caplog.at_level(logging.ERROR, logger=COORDINATOR_LOGGER):
            for _ in range(10):
                logger.error(*([_commit_failure().msg, *_commit_failure().args]))  # type: ignore[list-item]
                clock.now += 0.1
    finally:
        watch.remove()
    assert len(lost) == 1
    assert len([r for r in caplog.records if r.name == COORDINATOR_LOGGER]) == 1


def test_a_restarted_worker_gets_its_old_group_id_and_two_live_ones_never_share_one(tmp_path: Path) -> None:
    first = claim_member_slot(tmp_path, "pw")
    second = claim_member_slot(tmp_path, "pw")  # a second worker on the same data directory
    assert first.instance_id != second.instance_id
    assert first.instance_id.startswith("pw-") and first.instance_id.endswith("-0")
    elsewhere = claim_member_slot(tmp_path / "other", "pw")  # another directory on this host
    assert elsewhere.instance_id not in (first.instance_id, second.instance_id)
    restarted_as = first.instance_id
    first.release()  # the process ended (the kernel drops the lock on a crash too)
    again = claim_member_slot(tmp_path, "pw")
    assert again.instance_id == restarted_as
    for slot in (second, elsewhere, again):
        slot.release()


def test_a_topic_that_comes_back_with_other_partitions_was_made_again() -> None:
    counts = PartitionCounts()
    assert counts.changed({"pw.reads": 2, "pw.alerts": None}) == []
    assert counts.changed({"pw.reads": 2, "pw.alerts": 2}) == []  # first seen late: no change
    assert counts.changed({"pw.reads": None, "pw.alerts": 2}) == []  # metadata not there yet
    assert counts.changed({"pw.reads": 4, "pw.alerts": 2}) == ["pw.reads: 2 → 4 partitions"]
