"""Faust settings the tansu broker needs (docs/architecture.md), for the Faust app factory to apply.

- `producer_max_batch_size=1`: tansu reports a partition's end offset wrongly when one batch holds
  several records, so table recovery stops early and silently loses state. One record per batch keeps
  end offsets right; `tests/integration/test_tansu_end_offset.py` fails when the defect changes.
- `at_least_once`: tansu has no idempotent or transactional producer.
- 10 s session and rebalance timeouts, and the worker's web server on loopback only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

TANSU_FAUST_SETTINGS: Mapping[str, object] = MappingProxyType(
    {
        "producer_max_batch_size": 1,
        "processing_guarantee": "at_least_once",
        "broker_session_timeout": 10.0,
        "broker_rebalance_timeout": 10.0,
        "web_bind": "127.0.0.1",
    }
)
