"""Parsing and validation of what admins write into Redis: entries and per-list settings.

Everything here takes untrusted input (redis-cli, importers) and returns either a value or a reason
that an admin can act on; nothing raises for bad data, because one bad entry must never stop matching.

The state auditor asked that entries hold no criminal-history details, only a reason and a
reference, so the fields are a closed set with short lengths: an unknown field (say `priors`) makes
the whole entry malformed, reported and not matched, rather than silently stored and shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from platewatch.engine.config.choices import Fuzzy
from platewatch.engine.plates import PLATE_ALPHABET

MAX_PLATE = 10  # the longest plate the index packs (6 bits a character in a 64-bit key)
MAX_PATTERN = 12
MIN_PATTERN_LITERALS = 3  # "*7*" would alert on a large part of all traffic
WILDCARDS = "?*"


# field → longest value allowed. `case` and `ref` are the references; `reason` is one short line.
ENTRY_FIELDS: dict[str, int] = {
    "reason": 80,
    "priority": 1,
    "case": 32,
    "ref": 64,
    "source": 64,
    "added_by": 64,
    "added_at": 32,
    "state": 3,
    "vehicle": 64,
    "owner": 64,  # the investigator who entered it (policy 462.2(c)); told of each hit
}
REQUIRED_FIELDS = ("reason",)
LIST_FIELDS = (
    "fuzzy",
    "partial",
    "priority",
    "active",
    "description",
    "alert_threshold",
    "possible_threshold",
    "imported_at",
)
#: Default evidence thresholds (0..1, a calibrated probability) of the two tiers, read off the
#: final vote's curve of `platewatch bench alerts --passes 50000` on its selection half
#: (docs/hotlist.md, "Thresholds"): cameras alert on a pass's vote, not on one frame, and the vote's
#: knee sits higher than one frame's. 0.03 is the highest alert threshold that keeps 99 % of listed
#: passes read within one character alerting there (scoring half: 99.05 %, 14.5 false alerts per
#: 10k against 24.9 at the old 0.01); 0.002 is the possible tier chosen with it (65 false possible
#: matches per 10k against 125). A single frame pays about a point of recall for it. Kept when the
#: bench's traffic took the measured share of stacked plates (4.4 %): there the selection half puts
#: 0.03 at 99.21 % with room on all three targets, and the scoring half gives a camera's passes 9.5
#: false alerts and 76 false possible matches per 10k at 99.42 % (docs/hotlist.md).
ALERT_THRESHOLD = 0.03
POSSIBLE_THRESHOLD = 0.002
#: In a stream, the tracker's provisional read (the vote of a pass's first frames) raises only
#: matches with at least this evidence; a weaker one waits for the pass's final vote, which has
#: more frames to confirm or refute it (docs/hotlist.md, "A weak match waits for the pass"). With the
#: alert threshold at 0.03 it is that threshold for default lists; it still holds back weak matches
#: of a list whose own alert threshold is lower.
PROVISIONAL_THRESHOLD = 0.03

_PLATE = re.compile(rf"^[0-9A-Z]{{1,{MAX_PLATE}}}$")
_PATTERN = re.compile(rf"^[0-9A-Z?*]{{1,{MAX_PATTERN}}}$")
_STATE = re.compile(r"^[A-Z]{2,3}$")
_CONTROL = re.compile(r"[\x00-\x1f]")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class ListSettings:
    """How one list matches; Redis `pw:hot:<list>` overrides the config's HotlistConfig defaults."""

    name: str
    priority: int = 2
    fuzzy: Fuzzy = "strict"
    partial: bool = False
    active: bool = True
    alert_threshold: float = ALERT_THRESHOLD
    possible_threshold: float = POSSIBLE_THRESHOLD
    #: when an importer last wrote the list (epoch s; None: never imported, hand-kept): an alert
    #: shows the list's age, so a dispatcher sees a stale DOJ/NCIC feed
    imported_at: float | None = None


def is_pattern(text: str) -> bool:
    return any(c in WILDCARDS for c in text)


def clean_plate(text: str) -> str:
    """A plate as typed or imported (`7abc-123`, `7 ABC 123`) in canonical form: A-Z 0-9 upper case."""
    return "".join(c for c in text.upper() if c in PLATE_ALPHABET)


def clean_text(text: str) -> str:
    """Like clean_plate but keeping the wildcards `?` and `*` of partial patterns."""
    return "".join(c for c in text.upper() if c in PLATE_ALPHABET or c in WILDCARDS)


def check_text(text: str) -> str | None:
    """Why an entry's plate or pattern (the last part of its key) is unusable, or None when fine."""
    if not is_pattern(text):
        if _PLATE.match(text):
            return None
        if clean_plate(text) and clean_plate(text) != text and len(clean_plate(text)) <= MAX_PLATE:
            return f"plate must be A-Z 0-9 upper case; use {clean_plate(text)!r}"
        return f"plate must be 1-{MAX_PLATE} characters A-Z 0-9"
    if not _PATTERN.match(text):
        return f"pattern must be 1-{MAX_PATTERN} characters of A-Z 0-9 ? *"
    if "**" in text:
        return "pattern has '**' (one * already matches any run)"
    literals = sum(1 for c in text if c not in WILDCARDS)
    if literals < MIN_PATTERN_LITERALS:
        return f"pattern needs at least {MIN_PATTERN_LITERALS} known characters, has {literals}"
    return None


def check_fields(fields: Mapping[str, str]) -> str | None:
    """Why an entry's hash fields are unusable (unknown field, missing reason, bad value), or None."""
    unknown = sorted(set(fields) - set(ENTRY_FIELDS))
    if unknown:
        return (
            f"unknown field(s) {', '.join(unknown)}: entries hold only "
            f"{', '.join(ENTRY_FIELDS)} (no criminal-history details, docs/hotlist.md)"
        )
    for name in REQUIRED_FIELDS:
        if not fields.get(name, "").strip():
            return f"field {name!r} is required"
    for name, value in fields.items():
        if len(value) > ENTRY_FIELDS[name]:
            return f"field {name!r} longer than {ENTRY_FIELDS[name]} characters"
        if _CONTROL.search(value):
            return f"field {name!r} has control characters"
    priority = fields.get("priority")
    if priority is not None and priority not in {"1", "2", "3", "4", "5"}:
        return "field 'priority' must be 1-5 (1 highest)"
    state = fields.get("state")
    if state and not _STATE.match(state):
        return "field 'state' must be 2-3 letters A-Z (issuing state or region)"
    return None


def decode_fields(flat: list[bytes]) -> tuple[dict[str, str] | None, str | None]:
    """HGETALL's flat [field, value, ...] as text, or the reason it is not UTF-8."""
    try:
        items = [b.decode("utf-8") for b in flat]
    except UnicodeDecodeError:
        return None, "field or value is not UTF-8"
    return dict(zip(items[0::2], items[1::2], strict=False)), None


def parse_entry(text: str, fields: Mapping[str, str]) -> str | None:
    """Why the entry (key text + hash) is malformed, or None. List-dependent rules come later."""
    return check_text(text) or check_fields(fields)


def parse_list_settings(
    name: str, fields: Mapping[str, str], default: ListSettings
) -> tuple[ListSettings, list[str]]:
    """Settings from `pw:hot:<list>` over the defaults; bad fields are reported and the default kept."""
    problems: list[str] = []
    priority, fuzzy, partial, active = default.priority, default.fuzzy, default.partial, default.active
    imported_at = default.imported_at
    thresholds = {
        "alert_threshold": default.alert_threshold,
        "possible_threshold": default.possible_threshold,
    }
    for field, raw in fields.items():
        value = raw.strip().lower()
        if field == "priority":
            if value in {"1", "2", "3", "4", "5"}:
                priority = int(value)
            else:
                problems.append("priority must be 1-5")
        elif field == "fuzzy":
            if value == "off":
                fuzzy = "off"
            elif value == "strict":
                fuzzy = "strict"
            elif value == "lenient":
                fuzzy = "lenient"
            else:
                problems.append("fuzzy must be off, strict or lenient")
        elif field in {"partial", "active"}:
            if value in _TRUE or value in _FALSE:
                if field == "partial":
                    partial = value in _TRUE
                else:
                    active = value in _TRUE
            else:
                problems.append(f"{field} must be true or false")
        elif field in thresholds:
            try:
                number = float(value)
            except ValueError:
                number = -1.0
            if 0.0 <= number <= 1.0:
                thresholds[field] = number
            else:
                problems.append(f"{field} must be a number 0-1")
        elif field == "imported_at":
            try:
                imported_at = float(value)
            except ValueError:
                problems.append("imported_at must be epoch seconds (written by `platewatch hotlist import`)")
        elif field != "description":
            problems.append(f"unknown list setting {field!r} (known: {', '.join(LIST_FIELDS)})")
    alert_t, possible_t = thresholds["alert_threshold"], thresholds["possible_threshold"]
    if possible_t > alert_t:
        problems.append("possible_threshold above alert_threshold: taken as equal (no possible tier)")
        possible_t = alert_t
    return ListSettings(name, priority, fuzzy, partial, active, alert_t, possible_t, imported_at), problems
