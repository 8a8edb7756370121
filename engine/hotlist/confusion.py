"""OCR confusion classes and the weighted costs that fuzzy matching uses.

Plate OCR confuses characters that look alike (measured on our US set: G/6, B/8, A/4, Z/2, I/1/L,
D/0 make about half of the misses), so a substitution inside one class is cheap and any other edit
costs a full unit. Costs are integers in twentieths of an edit (UNIT = 20) so that the index, the
matcher and the brute-force reference in the tests add them up identically, without float drift.

The classes are disjoint: each character has one *normalised* form (its class representative),
which is what the index keys on. Two strings that differ only by confusions have equal normalised
forms.
"""

from __future__ import annotations

from platewatch.engine.plates import PLATE_ALPHABET

UNIT = 20
UNKNOWN = "?"
UNKNOWN_COST = 5  # an unreadable character in a read: as uncertain as a likely confusion

# (members, cost of substituting one member for another). The first member is the class's
# normalised form. Weights: the commonest confusions (O/0, B/8) are cheapest.
CLASSES: tuple[tuple[str, int], ...] = (
    ("0ODQ", 4),
    ("1ILTJ7", 5),
    ("2Z", 5),
    ("4A", 6),
    ("5S", 5),
    ("6GC", 6),
    ("8B", 4),
    ("MWVN", 8),
    ("KX", 8),
    ("PR", 8),
    ("EF", 8),
    ("3", 0),
    ("9", 0),
    ("H", 0),
    ("U", 0),
    ("Y", 0),
)

_CLASS_OF: dict[str, int] = {}
_WEIGHT: list[int] = []
for _i, (_members, _weight) in enumerate(CLASSES):
    _WEIGHT.append(_weight)
    for _c in _members:
        if _c in _CLASS_OF:
            raise RuntimeError(f"confusion classes overlap at {_c!r}")
        _CLASS_OF[_c] = _i
_missing = set(PLATE_ALPHABET) - set(_CLASS_OF)
if _missing:
    raise RuntimeError(f"characters without a confusion class: {sorted(_missing)}")

NORMAL: dict[str, str] = {c: CLASSES[i][0][0] for c, i in _CLASS_OF.items()}
NORMAL_ALPHABET = "".join(sorted(set(NORMAL.values())))
_NORMALISE_TABLE = str.maketrans(NORMAL)


def normalise(text: str) -> str:
    """Each character replaced by its class representative; `?` and others pass through."""
    return text.translate(_NORMALISE_TABLE)


def sub_cost(a: str, b: str) -> int:
    """Cost of reading `a` where the plate has `b` (symmetric; `?` on either side is unknown)."""
    if a == b:
        return 0
    if a == UNKNOWN or b == UNKNOWN:
        return UNKNOWN_COST
    ca, cb = _CLASS_OF.get(a), _CLASS_OF.get(b)
    if ca is not None and ca == cb:
        return _WEIGHT[ca]
    return UNIT


def same_class(a: str, b: str) -> bool:
    return a == b or (a in _CLASS_OF and _CLASS_OF.get(a) == _CLASS_OF.get(b))


# A table of costs indexed by the two characters' code points, for the matcher's inner loops.
_COST_TABLE: dict[tuple[str, str], int] = {
    (a, b): sub_cost(a, b) for a in PLATE_ALPHABET + UNKNOWN for b in PLATE_ALPHABET + UNKNOWN
}


def cost(a: str, b: str) -> int:
    """`sub_cost` through a precomputed table (falls back for characters outside the alphabet)."""
    found = _COST_TABLE.get((a, b))
    return sub_cost(a, b) if found is None else found
