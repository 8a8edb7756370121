"""Hotlists: entries in Redis (the admin interface), an in-memory index, matching, sync and importers.

See docs/hotlist.md for the key layout (a versioned public interface) and the matching rules.
"""

from .entry import ListSettings
from .index import Entry, HotlistIndex
from .layout import DEFAULT_PREFIX, LAYOUT_VERSION, Layout
from .matcher import Candidate, Match, match_candidates, match_plate, read_candidates

__all__ = [
    "DEFAULT_PREFIX",
    "LAYOUT_VERSION",
    "Candidate",
    "Entry",
    "HotlistIndex",
    "Layout",
    "ListSettings",
    "Match",
    "match_candidates",
    "match_plate",
    "read_candidates",
]
