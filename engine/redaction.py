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
# The look-behinds let a match start only where a word starts: from inside a word every start
# would rescan the rest of it, and a long line (hostile input is logged too) would cost seconds.
_USERINFO = re.compile(
    r"(?<![a-zA-Z0-9+.-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@"
)

#: A secret key, with any dotted, dashed or underscored prefix (`DB_PASSWORD`, `redis.password`,
#: `__password`). Each repetition ends at its own separator, so a run is split one way only.
_KEY = r"(?:[a-z0-9]*[._-])*(?:" + "|".join(sorted(SECRET_KEYS, key=len, reverse=True)) + ")"
#: A libpq-style 'quoted value' (backslash escapes).
_SINGLE_QUOTED = r"'(?:[^'\\]|\\.)*'"


def secret_assignment(unquoted_value: str) -> re.Pattern[str]:
    """`key = value` for any secret key (`_KEY`: settings carry prefixes, which a bare word
    boundary would let through), groups (key, `=` with its spaces, value). A value is 'quoted'
    (only when the quote closes the value, so `'ab'cd` is not cut at the second quote) or a run of
    `unquoted_value`."""
    return re.compile(
        r"(?i)(?<![a-z0-9._-])(" + _KEY + r")(\s*=\s*)"
        r"(" + _SINGLE_QUOTED + r"(?=[\s&]|$)|" + unquoted_value + ")"
    )


# Free text: a value runs to whitespace or `&` (the query separator; inside a URL a literal `&` is
# `%26`). Commas and semicolons are kept in the value: they are legal in passwords, and cutting too
# much of a log line is harmless where cutting too little leaks the rest of the secret.
_KEYVALUE = secret_assignment(r"[^\s&]+")
# Mapping reprs and JSON (`{'password': 'x'}`, `"token": "x"`): settings dumps end up in log lines.
_QUOTED_KEY = re.compile(
    r"(?i)(['\"])(" + _KEY + r")\1"
    r"(\s*:\s*)(" + _SINGLE_QUOTED + r"|\"(?:[^\"\\]|\\.)*\"|[^\s,}]+)"
)


def redact(text: str) -> str:
    """`text` with the passwords of URLs (`scheme://user:pw@`), of key=value pairs and of quoted
    `'key': value` pairs replaced by `***`."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _QUOTED_KEY.sub(lambda m: f"{m[1]}{m[2]}{m[1]}{m[3]}'***'", text)
    return _KEYVALUE.sub(lambda m: f"{m[1]}{m[2]}***", text)
