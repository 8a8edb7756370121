"""Hotlists: entries in Redis (the admin interface), an in-memory index, matching, sync and importers.

See docs/hotlist.md for the key layout (a versioned public interface) and the matching rules.
"""

from .entry import ListSettings
from .index import Entry, HotlistIndex
from .layout import DEFAULT_PREFIX, LAYOUT_VERSION, Layout
from .matcher import LookupText, Match, lookup_texts, match_plate, match_texts

__all__ = [
    "DEFAULT_PREFIX",
    "LAYOUT_VERSION",
    "Entry",
    "HotlistIndex",
    "Layout",
    "ListSettings",
    "LookupText",
    "Match",
    "lookup_texts",
    "match_plate",
    "match_texts",
]
