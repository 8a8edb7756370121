"""Refusals. `str()` of each is a sentence for the person who asked, never a stack-trace fragment."""

from __future__ import annotations


class PolicyError(Exception):
    """A request the policy refuses; the message says why and, where it can, what to do instead."""


class NotPermitted(PolicyError):
    """The acting person lacks the role, training or standing the action needs."""


class NotFound(PolicyError):
    """A named user, grant or session that does not exist."""
