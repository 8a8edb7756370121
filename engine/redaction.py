"""Which names mark a secret, and how a secret is cut out of free text and out of a URL.

One module for the whole engine: log records (`logs.RedactingFilter`) go through `redact`, and every
URL that is shown (service URLs in errors and `platewatch doctor`, camera URLs in logs and
`platewatch camera list`) through `redact_url`, so a password that one of them hides cannot leak
through another.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

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


_SECRET_KEY = re.compile(r"(?i)" + _KEY)
# libpq also takes `host=h user=u password='p w'`; operators paste that into database_url too. A value
# there runs to whitespace: `&` is no separator in a DSN.
_DSN_SECRET = secret_assignment(r"\S+")


def is_secret_key(name: str) -> bool:
    """Whether a query or settings key names a secret (`password`, `db_password`, `cam.token`, …)."""
    return _SECRET_KEY.fullmatch(name) is not None


def redact_url(url: str) -> str:
    """The URL (or libpq DSN) with every password replaced by `***`: in the user part, in the query,
    and in any `key=value` elsewhere (path parameters); the rest stays as written."""
    if "://" not in url:
        return _DSN_SECRET.sub(r"\1\2***", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")  # the last @: a password may hold an unescaped one
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_key(key) for key, _ in pairs):
            query = urlencode([(k, "***" if is_secret_key(k) else v) for k, v in pairs], safe="*/:")
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def url_secrets(url: str) -> list[str]:
    """Every password in `url`, raw and percent-decoded, so it can be cut out of library messages."""
    found: list[str] = [m.group(3).strip("'") for m in _DSN_SECRET.finditer(url)]
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        found.append(userinfo.split(":", 1)[1])
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if is_secret_key(k)]
    found += [unquote(s) for s in found] + [quote(s, safe="") for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """`text` with any password of `url` replaced by `***` (client errors sometimes echo their input)."""
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text
