"""Tracking: a vehicle's many per-frame reads become one pass, read once (docs/streams.md, "Tracking")."""

from .tracker import PASS_NAMESPACE, Tracker, TrackerConfig
from .vote import Vote, vote

__all__ = ["PASS_NAMESPACE", "Tracker", "TrackerConfig", "Vote", "vote"]
