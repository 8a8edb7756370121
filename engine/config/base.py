"""Shared base for every settings section, and the rule for names that become parts of keys.

`extra="forbid"` turns a misspelt key into an error instead of a silently ignored value,
and `frozen=True` lets settings be passed around without anyone mutating them mid-run.
"""

import re

from pydantic import BaseModel, ConfigDict

#: A camera id (the Kafka key of its messages) or a hotlist name (part of its Redis keys): lower
#: case, so one name is not two keys; no `:`, so it never splits a key; never starting with `_`,
#: which the hotlist key layout keeps for its own keys.
NAME_PATTERN = r"[a-z0-9][a-z0-9_-]{0,63}"
NAME = re.compile(rf"^{NAME_PATTERN}$")


def check_name(value: str, what: str) -> str:
    if not NAME.match(value):
        raise ValueError(f"{what} must be 1-64 of a-z 0-9 _ - starting with a letter or digit")
    return value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
