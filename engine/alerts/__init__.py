"""Reads against the hotlists → alerts, once per pass and entry, surviving restarts; then the
alerts' life on the dispatcher's desk (stored, stepped through their states, streamed, webhooked).

Raising, three guards, because none alone is enough:

1. The alert id is deterministic (`build.alert_id`): whatever gets through twice carries the same
   id, and alerts are stored idempotently on it (`records.store_alerts`), so a dispatcher never
   sees a duplicate.
2. A ledger in Redis (`ledger.AlertLedger`) keeps replays and later reads of the pass off the topic
   at all. It is written *after* the send: a crash in between causes a duplicate (absorbed by 1),
   never a lost alert.
3. A pass split in two is still one vehicle: a camera handed to another worker mid-pass, or a car
   hidden longer than the tracker waits, gives two pass ids. A read of an entry at a camera within
   the repeat window (`alerts.repeat_window_s`, read time) of that camera's last sighting of that
   entry does not alert again. Reads are keyed by camera, so one matcher sees all of a camera's
   reads in order.

On the desk: `lifecycle` (the steps and their rules), `stream` (the ordered change stream with
offsets and an epoch that screens replay from), `views` (the one JSON shape of an alert),
`webhook_outbox` (deliveries queued with each change).
"""

from .build import alert_id, build_alert
from .ledger import AlertLedger, Ledger
from .matching import list_defaults, match_read
from .raising import process_read

__all__ = [
    "AlertLedger",
    "Ledger",
    "alert_id",
    "build_alert",
    "list_defaults",
    "match_read",
    "process_read",
]
