"""An alert from a read and the hotlist entry it matched."""

from __future__ import annotations

import uuid

from platewatch.codecs import Alert, Read
from platewatch.engine.hotlist import Match

ALERT_NAMESPACE = uuid.UUID("6f1c0b9e-4f6a-5d8e-9a43-70c1a4e2d462")
#: Entry fields copied into an alert's `extra` when the entry has them (`owner`: who is told of the hit).
ENTRY_EXTRA = ("ref", "source", "state", "vehicle", "owner")  # the case: Alert.case_number


def alert_id(read: Read, entry_key: str) -> str:
    """The same for every read of one pass against one entry, in every worker, across restarts:
    uuid5(pass id, or the read id when the tracker set none; entry key)."""
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{read.pass_id or read.read_id}\x1f{entry_key}"))


def second_verdict(log_odds: float) -> str:
    """The second opinion in words: log P2(entry) - log P2(read) on the crop."""
    if log_odds >= 1.0:
        return "supports entry"
    if log_odds <= -1.0:
        return "supports read"
    return "undecided"


def build_alert(read: Read, match: Match, now: float) -> Alert:
    extra = {name: match.fields[name] for name in ENTRY_EXTRA if match.fields.get(name)}
    extra |= {"entry_key": match.key, "candidate": match.candidate}
    if match.list_imported_at is not None:
        extra["list_imported_at"] = repr(match.list_imported_at)
    if match.second is not None:
        # For the dispatcher checking a fuzzy hit: whether an independent recognizer, on the same
        # crop, found the entry likelier than what was read (log-odds), and the read's own evidence.
        extra["second_opinion"] = second_verdict(match.second)
        extra["second_log_odds"] = f"{match.second:+.2f}"
        extra["primary_evidence"] = f"{match.primary:.4g}"
    return Alert(
        alert_id=alert_id(read, match.key),
        read=read,
        hotlist=match.list_name,
        entry=match.entry,
        match_kind=match.kind,
        score=match.score,
        priority=match.priority,
        reason=match.fields.get("reason", ""),
        case_number=match.fields.get("case", ""),
        time=now,
        extra=extra,
        tier=match.tier or "alert",
        evidence=match.evidence,
        differs=match.differs,
    )
