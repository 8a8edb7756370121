"""`${NAME}` references to the environment in configuration values (secrets, credentials).

A secret written into YAML ends up in backups, diffs and support bundles; a reference does not.
References are filled in only where the value is used (a webhook's signing key when it signs), so
the settings object, and anything that prints it, never holds the secret itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingVariable(ValueError):
    """A `${NAME}` whose variable is not set; the message names the variable, never a value."""


def expand_env(text: str, what: str, env: Mapping[str, str] | None = None) -> str:
    """Fill each `${NAME}` from the environment; a missing variable is an error, never ""."""
    source = os.environ if env is None else env

    def fill(match: re.Match[str]) -> str:
        name = match[1]
        if name not in source:
            raise MissingVariable(f"{what} needs environment variable {name}, which is not set")
        return source[name]

    return _REFERENCE.sub(fill, text)
