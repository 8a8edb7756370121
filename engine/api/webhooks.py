"""/api/v1/webhooks: what was sent to CAD and other agencies, what is waiting, and the dead letters.

A delivery that used up its attempts stays dead until someone looks: an admin or a supervisor lists
the dead letters (the `platewatch_webhook_dead_letters` gauge says when there are any), fixes the
receiver or the configuration, and re-queues each one with a fresh set of attempts. Payloads are
not shown here: the list names the alert and the message id, and the alert itself is behind the
dispatch routes. Each request writes one access-log row, a refused one too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from platewatch.engine.alerts import webhook_deliveries as deliveries
from platewatch.engine.alerts.webhook_deliveries import Status
from platewatch.engine.policy.roles import Role

from .deps import Caller, require
from .errors import ApiError

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

Operator = Annotated[Caller, Depends(require(Role.ADMIN, Role.SUPERVISOR))]
DeliveryId = Annotated[int, Path(ge=1, le=2**62)]


class DeliveryOut(BaseModel):
    id: int
    destination: str
    configured: bool  # False: the destination was removed from the configuration
    event_seq: int
    alert_id: str
    msg_id: str  # the webhook-id header: the receiver's idempotency key
    status: str
    attempts: int
    next_at: datetime
    last_error: str | None
    last_status: int | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: dict[str, Any], configured: set[str]) -> DeliveryOut:
        return cls(configured=row["destination"] in configured, **row)


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]


class _Refusal(ApiError):
    """A refusal that keeps its sentence for the access-log row."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.reason = message


def _configured(caller: Caller) -> set[str]:
    return {hook.name for hook in caller.settings.webhooks}


@router.get("/deliveries", name="webhooks.deliveries")
def list_deliveries(
    caller: Operator,
    status: Annotated[Status | None, Query(description="pending, delivered or dead")] = None,
    destination: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveriesOut:
    """Newest first; `status=dead` is the dead-letter list."""
    with caller.conn.transaction():
        rows = deliveries.list_deliveries(caller.conn, status=status, destination=destination, limit=limit)
        caller.log(
            terms={"status": status, "destination": destination, "limit": limit},
            returned_ids=[row["msg_id"] for row in rows],
        )
    configured = _configured(caller)
    return DeliveriesOut(deliveries=[DeliveryOut.of(row, configured) for row in rows])


@router.post("/deliveries/{delivery_id}/retry", name="webhooks.retry")
def retry_delivery(caller: Operator, delivery_id: DeliveryId) -> DeliveryOut:
    """Re-queue a dead delivery: pending, attempts from zero, due now."""
    terms: dict[str, Any] = {"delivery": delivery_id}
    configured = _configured(caller)
    with caller.conn.transaction():
        row = deliveries.get_delivery(caller.conn, delivery_id, lock=True)
        refusal: _Refusal | None = None
        if row is None:
            refusal = _Refusal(404, "not_found", f"no webhook delivery {delivery_id}")
        else:
            terms.update(destination=row["destination"], msg_id=row["msg_id"])
            if row["status"] != "dead":
                refusal = _Refusal(
                    409,
                    "not_dead",
                    f"delivery {delivery_id} is {row['status']}: only a dead one is re-queued",
                )
            elif row["destination"] not in configured:
                refusal = _Refusal(
                    409,
                    "destination_removed",
                    f"destination {row['destination']} is no longer configured: nothing would send it",
                )
        if refusal is not None:
            caller.log(outcome="refused", reason=refusal.reason, terms=terms)
        else:
            row = deliveries.requeue(caller.conn, delivery_id)
            assert row is not None  # locked and dead above
            caller.log(terms=terms, returned_ids=[row["msg_id"]])
    if refusal is not None:
        raise refusal
    assert row is not None
    return DeliveryOut.of(row, configured)
