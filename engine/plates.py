"""Plate text: the one alphabet every part of the system reads and writes, and how far two texts are.

A foundation module: recognition decodes into this alphabet, hotlists clean entries to it, the
tracker and the benches compare texts with `edit_distance`, and training renders plates in it.
Keeping it in one place means a character added for a new region is added everywhere at once.
"""

from __future__ import annotations

from typing import Final

#: Digits then letters: the recognizer's output classes after the CTC blank, in this order.
PLATE_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance; plates are short, so the quadratic table costs nothing."""
    if a == b:
        return 0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
