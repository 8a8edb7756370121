"""Faust settings the tansu broker needs (docs/architecture.md), for the Faust app factory to apply.

- `producer_max_batch_size=1`: tansu reports a partition's end offset wrongly when one batch holds
  several records, so table recovery stops early and silently loses state. One record per batch keeps
  end offsets right; `tests/integration/test_tansu_end_offset.py` fails when the defect changes.
- `at_least_once`: tansu has no idempotent or transactional producer.
- A 6 s session timeout with a 2 s heartbeat: tansu holds every JoinGroup for about half the
  session timeout (5.0 s at 10 s, 3.0 s at 6 s, with plain aiokafka consumers on a fresh broker),
  so each worker start, and the fresh workers after a broker restart, joined 2 s later at 10 s;
  a crashed worker's member also leaves the group 4 s sooner. Three heartbeats per session: a
  worker's consumer thread stalled 4 s is still a member (no spurious rebalance in the fault runs
  and a 2-minute run with three extra busy processes on the 2 shared cores: docs/measuring.md).
- A 10 s rebalance timeout, and the worker's web server on loopback only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

TANSU_FAUST_SETTINGS: Mapping[str, object] = MappingProxyType(
    {
        "producer_max_batch_size": 1,
        "processing_guarantee": "at_least_once",
        "broker_session_timeout": 6.0,
        "broker_heartbeat_interval": 2.0,
        "broker_rebalance_timeout": 10.0,
        "web_bind": "127.0.0.1",
    }
)
