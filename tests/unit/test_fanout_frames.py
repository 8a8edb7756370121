"""The fan-out's shared frames and its bulk delivery histograms, without a database or a socket:
clients at one offset get the very same frame until the next broadcast, a frame holds exactly
the events after the client's offset, and the histograms read on /metrics as Prometheus's own."""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from platewatch.engine.api.alert_metrics import BulkHistogram
from platewatch.engine.api.fanout import Fanout, FellBehind, Outgoing, frame


def _event(seq: int) -> Outgoing:
    text = json.dumps({"type": "event", "offset": seq, "kind": "raised", "alert": {"alert_id": f"a{seq}"}})
    return Outgoing(seq=seq, alert_id=f"a{seq}", kind="raised", raised_at=0.0, read_time=0.0, text=text)


def _fanout(queue: int = 100) -> Fanout:
    return Fanout("postgresql://unused", queue)


def _offsets(text: str) -> list[int]:
    msg = json.loads(text)
    events = msg["events"] if msg["type"] == "batch" else [msg]
    return [e["offset"] for e in events]


def test_one_event_is_its_own_frame_and_several_are_one_batch_in_order() -> None:
    assert _offsets(frame([_event(7)])) == [7]
    assert json.loads(frame([_event(7)]))["type"] == "event"
    assert _offsets(frame([_event(n) for n in (3, 4, 5)])) == [3, 4, 5]


def test_clients_at_one_offset_share_one_frame_until_the_next_broadcast() -> None:
    fan = _fanout()
    fan._broadcast([_event(n) for n in range(1, 6)], 5)
    first = fan.pending(2, 100)
    again = fan.pending(2, 100)
    assert first is not None and again is not None
    assert again[1] is first[1]  # the same string object: built once, not once per client
    assert _offsets(first[1]) == [3, 4, 5] and [i.seq for i in first[0]] == [3, 4, 5]
    assert fan.pending(5, 100) is None  # up to date
    assert _offsets(fan.pending(0, 2)[1]) == [1, 2]  # type: ignore[index]  # the cap on a frame holds

    fan._broadcast([_event(6), _event(7)], 7)
    after = fan.pending(2, 100)
    assert after is not None and _offsets(after[1]) == [3, 4, 5, 6, 7]  # not the stale, shorter frame


def test_a_client_older_than_the_ring_is_told_to_replay() -> None:
    fan = _fanout(queue=3)
    fan._broadcast([_event(n) for n in range(1, 7)], 6)  # the ring keeps 4, 5, 6
    assert fan.pending(3, 100) is not None
    with pytest.raises(FellBehind):
        fan.pending(2, 100)


def test_the_bulk_histogram_reads_as_prometheus_histogram_of_the_same_values() -> None:
    buckets = (0.005, 0.01, 0.025, 0.05, 1.0, 10.0)
    rng = random.Random(21)
    values = [rng.expovariate(30) for _ in range(2000)] + [0.0, 0.01, 0.05, 20.0]  # on the bounds too
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("pw_test_seconds", "a test", buckets=buckets, registry=theirs)
    for v in values:
        reference.observe(v)
    bulk = BulkHistogram("pw_test_seconds", "a test", buckets, registry=ours)
    bulk.observe_many(values[:1000])
    bulk.observe_many(values[1000:])

    expected = [line for line in generate_latest(theirs).decode().splitlines() if "_created" not in line]
    assert generate_latest(ours).decode().splitlines() == expected


def test_the_follower_is_a_task_of_the_loop_and_stops_from_the_lifespans_thread() -> None:
    """No database answers: the follower keeps retrying on the loop (not ready), and `stop`, called
    from a thread as the app's lifespan does, ends it without waiting out a retry."""

    async def run() -> tuple[bool, bool]:
        fan = Fanout("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", 10)
        fan.start(asyncio.get_running_loop())
        ready = await fan.ready(timeout_s=0.3)
        started = time.monotonic()
        await asyncio.to_thread(fan.stop)
        assert time.monotonic() - started < 2.0
        return ready, fan._task is not None and fan._task.done()

    ready, done = asyncio.run(run())
    assert not ready and done
