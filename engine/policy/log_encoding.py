"""How an access-log row is hashed into the chain: its canonical bytes, and the SQL that reads a row
in the form they are made of.

Shared by the writer of the chain (sealer.py) and its checker (access_log.verify), which must agree
to the byte; `ENCODING_VERSION` is inside every hashed row, so a change of encoding is a new version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

GENESIS = bytes(32)
ENCODING_VERSION = 1
#: Advisory-lock namespace (two-key form) of the rows in flight: an append holds (this, its number)
#: until it commits or rolls back, which tells the sealer a gap it must wait for from one it may pass.
IN_FLIGHT_KEY = 0x7077_6C73  # "pwls"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
dump_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def epoch_us(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def canonical(
    seq: int,
    time_us: int,
    user_id: int | None,
    username: str,
    organisation: str,
    client_address: str | None,
    action: str,
    terms_text: str,
    purpose: str | None,
    case_number: str | None,
    alert_id: str | None,
    outcome: str,
    reason: str | None,
    returned_count: int,
    returned_ids_text: str,
) -> bytes:
    """The bytes a row's hash covers: a JSON array of the columns in a fixed order.

    Time is whole microseconds since 1970 (UTC). `terms` and `returned_ids` enter as PostgreSQL
    renders them (`terms::text`, `returned_ids::text`): that rendering is a function of the stored
    value alone, and taking it as it comes spares `verify` parsing and re-encoding JSON per row,
    which is most of what a million rows would cost.
    """
    return encode_columns(
        (
            seq,
            time_us,
            user_id,
            username,
            organisation,
            client_address,
            action,
            terms_text,
            purpose,
            case_number,
            alert_id,
            outcome,
            reason,
            returned_count,
            returned_ids_text,
        )
    )


def encode_columns(columns: Sequence[Any]) -> bytes:
    """`canonical` of the 15 hashed columns, in its order (verify's loop inlines this for speed)."""
    return dump_json([ENCODING_VERSION, *columns]).encode("utf-8")


def row_hash(prev_hash: bytes, content: bytes) -> bytes:
    return hashlib.sha256(prev_hash + content).digest()


# A row's content in the form it is hashed in (`canonical`'s 15 columns), exact on every PostgreSQL
# version (a whole second's epoch and the microseconds within it are both exact in double precision).
CONTENT_COLUMNS = (
    "l.seq, extract(epoch FROM date_trunc('second', l.time))::bigint * 1000000"
    " + mod(extract(microseconds FROM l.time)::bigint, 1000000),"
    " l.user_id, l.username, l.organisation, l.client_address, l.action, l.terms::text, l.purpose,"
    " l.case_number, l.alert_id, l.outcome, l.reason, l.returned_count, l.returned_ids::text"
)
