"""Which names mark a secret, and how a secret is cut out of free text.

One list for the whole engine: log records (`logs.RedactingFilter`), service URLs
(`services.urls.redact_url`) and camera URLs (`ingest.urls.display_url`) all hide the same keys, so a
password that one of them hides cannot leak through another.
"""

from __future__ import annotations

import re

#: Query, DSN and key=value names whose value is a secret (compared case-insensitively).
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "sslpassword",
        "secret",
        "token",
        "access_token",
        "api_key",
        "sasl_plain_password",
    }
)
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")


def secret_assignment(unquoted_value: str) -> re.Pattern[str]:
    """`key = value` for any secret key, groups (key, `=` with its spaces, value); a value is
    'quoted' (libpq style) or a run of `unquoted_value` (free text stops at `&;,`, a DSN does not)."""
    keys = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
    return re.compile(r"(?i)\b(" + keys + r")(\s*=\s*)('(?:[^'\\]|\\.)*'|" + unquoted_value + ")")


_KEYVALUE = secret_assignment(r"[^\s&;,]+")


def redact(text: str) -> str:
    """`text` with the passwords of URLs (`scheme://user:pw@`) and of key=value pairs replaced by `***`."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _KEYVALUE.sub(lambda m: f"{m[1]}{m[2]}***", text)
