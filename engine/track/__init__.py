"""Tracking: a vehicle's many per-frame reads become one pass, read once (DESIGN.md "The flow")."""

from .tracker import PASS_NAMESPACE, Tracker, TrackerConfig
from .vote import Vote, vote

__all__ = ["PASS_NAMESPACE", "Tracker", "TrackerConfig", "Vote", "vote"]
