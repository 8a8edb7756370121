"""Shared base for every settings section.

`extra="forbid"` turns a misspelt key into an error instead of a silently ignored value,
and `frozen=True` lets settings be passed around without anyone mutating them mid-run.
"""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
