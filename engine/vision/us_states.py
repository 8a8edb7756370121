"""The US issuing states: their names as plates print them, and their common passenger formats.

Why data in a module: the state reader matches what it reads above a plate's characters against
these names, and the format table lets a known state choose among the recognizer's candidates.
Both are small, reviewed by eye, and change only when a state issues a new series.

Formats are written with ``A`` for a letter, ``9`` for a digit and any other character literally;
they are the current and previous standard passenger series (not vanity, dealer, exempt or
specialty plates), from each state's DMV pages and the Wikipedia article "Vehicle registration
plates of <state>" (read 2026-12). A state with no entry has no format evidence.
"""

from __future__ import annotations

import re
from typing import Final

#: USPS code -> the name as printed in capitals (spaces dropped: readers rarely see them).
STATE_NAMES: Final[dict[str, str]] = {
    "AL": "ALABAMA",
    "AK": "ALASKA",
    "AZ": "ARIZONA",
    "AR": "ARKANSAS",
    "CA": "CALIFORNIA",
    "CO": "COLORADO",
    "CT": "CONNECTICUT",
    "DE": "DELAWARE",
    "DC": "WASHINGTONDC",
    "FL": "FLORIDA",
    "GA": "GEORGIA",
    "HI": "HAWAII",
    "ID": "IDAHO",
    "IL": "ILLINOIS",
    "IN": "INDIANA",
    "IA": "IOWA",
    "KS": "KANSAS",
    "KY": "KENTUCKY",
    "LA": "LOUISIANA",
    "ME": "MAINE",
    "MD": "MARYLAND",
    "MA": "MASSACHUSETTS",
    "MI": "MICHIGAN",
    "MN": "MINNESOTA",
    "MS": "MISSISSIPPI",
    "MO": "MISSOURI",
    "MT": "MONTANA",
    "NE": "NEBRASKA",
    "NV": "NEVADA",
    "NH": "NEWHAMPSHIRE",
    "NJ": "NEWJERSEY",
    "NM": "NEWMEXICO",
    "NY": "NEWYORK",
    "NC": "NORTHCAROLINA",
    "ND": "NORTHDAKOTA",
    "OH": "OHIO",
    "OK": "OKLAHOMA",
    "OR": "OREGON",
    "PA": "PENNSYLVANIA",
    "RI": "RHODEISLAND",
    "SC": "SOUTHCAROLINA",
    "SD": "SOUTHDAKOTA",
    "TN": "TENNESSEE",
    "TX": "TEXAS",
    "UT": "UTAH",
    "VT": "VERMONT",
    "VA": "VIRGINIA",
    "WA": "WASHINGTON",
    "WV": "WESTVIRGINIA",
    "WI": "WISCONSIN",
    "WY": "WYOMING",
}

#: Names some states print in script or mixed case (California, Illinois, Louisiana, Ohio...):
#: the reader scores these spellings too, since a script "California" is not read as capitals.
PRINTED_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "CA": ("California",),
    "IL": ("Illinois",),
    "LA": ("Louisiana",),
    "OH": ("Ohio",),
    "NJ": ("NewJersey",),
    "MO": ("Missouri",),
    "PA": ("Pennsylvania",),
    "NY": ("NewYork",),
    "NV": ("Nevada",),
    "DC": ("WASHINGTONDC",),
}

#: USPS code -> common standard passenger formats (see the module docstring for the notation).
STATE_FORMATS: Final[dict[str, tuple[str, ...]]] = {
    "AZ": ("AAA9999", "999AAA"),
    "CA": ("9AAA999", "9A99999", "99999A9"),  # 1980-today: 1ABC234 ... 9ABC999; commercial
    "FL": ("AAAA99", "AAA9AA", "999AAA", "AAA999"),
    "IL": ("AA99999", "A999999", "999999", "9999999"),
    "MI": ("AAA9999", "9AAA99"),
    "NJ": ("A99AAA", "AAA9999", "99AAA"),
    "NY": ("AAA9999",),
    "OH": ("AAA9999",),
    "PA": ("AAA9999",),
    "TX": ("AAA9999", "AA9A999", "999AAA"),
    "WA": ("AAA9999", "999AAA"),
    "MO": ("AA9A9A",),
    "AK": ("AAA999",),
    "DC": ("AA9999",),
    "GA": ("AAA9999",),
    "VA": ("AAA9999",),
    "NC": ("AAA9999",),
}


def format_regex(fmt: str) -> re.Pattern[str]:
    """A format as an anchored regular expression."""
    parts = ["[A-Z]" if c == "A" else "[0-9]" if c == "9" else re.escape(c) for c in fmt]
    return re.compile("^" + "".join(parts) + "$")


_COMPILED: Final = {code: tuple(format_regex(f) for f in fmts) for code, fmts in STATE_FORMATS.items()}


def fits_state(text: str, state: str) -> bool | None:
    """Whether `text` fits one of `state`'s standard formats; None where the state has none listed."""
    patterns = _COMPILED.get(state)
    if patterns is None:
        return None
    return any(p.match(text) for p in patterns)


__all__ = ["PRINTED_NAMES", "STATE_FORMATS", "STATE_NAMES", "fits_state", "format_regex"]
