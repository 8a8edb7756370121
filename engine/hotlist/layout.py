"""The Redis key layout of hotlists: a versioned public interface (docs/hotlist.md).

Admins edit hotlists with redis-cli, so key names are an API. Layout v1 (prefix `pw:hot`):

    pw:hot:<list>:<plate-or-pattern>   HASH  one entry (reason, priority, case, ...); EXPIRE makes it lapse
    pw:hot:<list>                      HASH  per-list settings (fuzzy, partial, priority, active)
    pw:hot:_errors                     HASH  malformed keys → why they are skipped (written by the matcher)
    pw:hot:_layout                     STRING  "1": the layout version this data follows
    pw:hot:_case_entries               SET  entry keys investigators added from the page (their index)

List names follow the config's rule (a-z 0-9 _ -, starting with a letter or digit), so names that
start with `_` are free for the layout's own keys and never collide with a list. A future layout that
cannot be read as v1 gets a new prefix, so a v1 matcher never misreads it.

The prefix is a parameter so that tests (and a second deployment sharing a Redis) use their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from platewatch.engine.config.base import NAME

LAYOUT_VERSION = 1
DEFAULT_PREFIX = "pw:hot"
RESERVED_MARK = "_"


@dataclass(frozen=True)
class KeyKind:
    """What a key under the prefix is: an entry, a list's settings, a layout key, or not ours."""

    kind: str  # "entry" | "list" | "reserved" | "bad"
    list_name: str = ""
    text: str = ""
    problem: str = ""


@dataclass(frozen=True)
class Layout:
    prefix: str = DEFAULT_PREFIX

    def entry_key(self, list_name: str, text: str) -> str:
        return f"{self.prefix}:{list_name}:{text}"

    def list_key(self, list_name: str) -> str:
        return f"{self.prefix}:{list_name}"

    @property
    def errors_key(self) -> str:
        return f"{self.prefix}:_errors"

    @property
    def case_entries_key(self) -> str:
        return f"{self.prefix}:_case_entries"

    @property
    def version_key(self) -> str:
        return f"{self.prefix}:_layout"

    @property
    def scan_match(self) -> str:
        """SCAN/PSUBSCRIBE glob for every key of the layout (the prefix has no glob characters)."""
        return f"{self.prefix}:*"

    def list_entries_match(self, list_name: str) -> str:
        return f"{self.prefix}:{list_name}:*"

    def classify(self, key: str) -> KeyKind:
        """Split a key into what it means; never raises, since keys come from anyone with redis-cli."""
        head = self.prefix + ":"
        if not key.startswith(head):
            return KeyKind("bad", problem="not under the hotlist prefix")
        rest = key[len(head) :]
        list_name, sep, text = rest.partition(":")
        if list_name.startswith(RESERVED_MARK):
            return KeyKind("reserved", list_name=list_name)
        if not NAME.match(list_name):
            return KeyKind(
                "bad",
                list_name=list_name,
                problem="list name must be 1-64 of a-z 0-9 _ - starting with a letter or digit",
            )
        if not sep:
            return KeyKind("list", list_name=list_name)
        return KeyKind("entry", list_name=list_name, text=text)
