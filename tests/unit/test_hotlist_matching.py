"""The indexed matcher finds exactly what a brute-force scan with independent rule code finds.

The reference knows nothing about the index: it tries every entry with a textbook weighted
Levenshtein DP (plates) and a recursive glob (patterns), so both the retrieval (normalised keys,
tagged deletion neighbourhoods, pattern anchors) and the shortcut rule code are checked.
"""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platewatch.engine.hotlist import HotlistIndex, ListSettings, lookup_texts, match_texts
from platewatch.engine.hotlist.confusion import UNIT, UNKNOWN, sub_cost
from platewatch.engine.hotlist.entry import check_text, is_pattern
from platewatch.engine.hotlist.matcher import (
    LENIENT_MAX,
    LENIENT_MIN_LEN,
    STRICT_MAX,
    LookupText,
    judge_plate,
    score,
)

# A small alphabet full of confusions, so that random strings collide often.
CHARS = "08BOD1IL27Z5SAM4W6GX9"
plates = st.text(alphabet=CHARS, min_size=1, max_size=8)
pattern_chars = st.sampled_from([*CHARS, "?", "?", "*"])
patterns = (
    st.lists(pattern_chars, min_size=3, max_size=9).map("".join).filter(lambda p: check_text(p) is None)
)
fuzzies = st.sampled_from(["off", "strict", "lenient"])


def levenshtein(a: str, b: str) -> int:
    row = [j * UNIT for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        new = [i * UNIT] + [0] * len(b)
        for j in range(1, len(b) + 1):
            new[j] = min(row[j] + UNIT, new[j - 1] + UNIT, row[j - 1] + sub_cost(a[i - 1], b[j - 1]))
        row = new
    return row[-1]


def ref_plate(cand: str, entry: str, fuzzy: str) -> tuple[str, int] | None:
    if cand == entry:
        return ("exact", 0)
    if fuzzy == "off":
        return None
    if UNKNOWN in cand or fuzzy == "strict" or len(entry) < LENIENT_MIN_LEN:
        # position by position, confusions (and unknowns) only; short plates get the strict budget
        limit = LENIENT_MAX if fuzzy == "lenient" and UNKNOWN in cand else STRICT_MAX
        if len(cand) != len(entry):
            return None
        costs = [sub_cost(a, b) for a, b in zip(cand, entry, strict=True)]
        ok = all(c < UNIT for c in costs) and sum(costs) <= limit
        return ("fuzzy", sum(costs)) if ok else None
    d = levenshtein(cand, entry)
    return ("fuzzy", d) if d <= LENIENT_MAX else None


def ref_pattern(cand: str, pattern: str, fuzzy: str) -> tuple[str, int] | None:
    @cache
    def go(i: int, j: int) -> float:
        if i == len(pattern):
            return 0 if j == len(cand) else float("inf")
        p = pattern[i]
        if p == "*":
            return min(go(i + 1, k) for k in range(j, len(cand) + 1))
        if j == len(cand):
            return float("inf")
        if p == "?":
            return go(i + 1, j + 1)
        c = cand[j]
        if c == p:
            return go(i + 1, j + 1)
        if fuzzy != "off" and c != UNKNOWN and sub_cost(p, c) < UNIT:
            return sub_cost(p, c) + go(i + 1, j + 1)
        return float("inf")

    total = go(0, 0)
    limit = 0 if fuzzy == "off" else LENIENT_MAX if fuzzy == "lenient" else STRICT_MAX
    return ("partial", int(total)) if total <= limit else None


def reference(entries: list[tuple[str, str]], lists: dict[str, ListSettings], cands: list[LookupText]):
    out = {}
    for list_name, text in entries:
        s = lists[list_name]
        if not s.active:
            continue
        best = None
        for i, cand in enumerate(cands):
            if is_pattern(text):
                verdict = ref_pattern(cand.text, text, s.fuzzy) if s.partial else None
            else:
                verdict = ref_plate(cand.text, text, s.fuzzy)
            if verdict:
                rank = (
                    score(verdict[0], verdict[1], text, cand.weight),
                    {"exact": 2, "fuzzy": 1}.get(verdict[0], 0),
                    -i,
                )
                if best is None or rank > best[0]:
                    best = (rank, verdict[0], cand.text)
        if best:
            out[(list_name, text)] = (best[1], best[0][0], best[2])
    return out


@st.composite
def scenarios(draw: st.DrawFn):
    lists = {
        name: ListSettings(
            name, fuzzy=draw(fuzzies), partial=draw(st.booleans()), active=draw(st.booleans()) or True
        )
        for name in ("a", "b", "c")
    }
    base = draw(st.lists(st.tuples(st.sampled_from("abc"), plates), max_size=40, unique=True))
    live = draw(st.lists(st.tuples(st.sampled_from("abc"), plates | patterns), max_size=15, unique=True))
    removed = draw(st.lists(st.sampled_from(base + live), max_size=5)) if base + live else []
    texts = draw(st.lists(st.text(alphabet=CHARS + "?", min_size=1, max_size=9), min_size=1, max_size=4))
    sources = [t.replace("*", "S1").replace("?", "8") for _, t in base + live]
    for i in range(len(texts)):
        if sources and draw(st.booleans()):
            texts[i] = draw(mutated(st.sampled_from(sources)))
    return lists, base, live, removed, texts


@st.composite
def mutated(draw: st.DrawFn, source: st.SearchStrategy[str]) -> str:
    """A read derived from an entry: confusions, a wrong/missing/extra character, unknowns."""
    chars = list(draw(source) or "0")
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(chars) - 1))
        op = draw(st.sampled_from(["confuse", "confuse", "sub", "drop", "add", "unknown", "keep"]))
        if op == "confuse":
            chars[i] = draw(st.sampled_from([c for c in CHARS if sub_cost(c, chars[i]) < UNIT] or [chars[i]]))
        elif op == "sub":
            chars[i] = draw(st.sampled_from(CHARS))
        elif op == "drop" and len(chars) > 1:
            del chars[i]
        elif op == "add":
            chars.insert(i, draw(st.sampled_from(CHARS)))
        elif op == "unknown":
            chars[i] = "?"
    return "".join(chars)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.randoms(use_true_random=False))
def test_index_matches_brute_force(scenario, rnd) -> None:
    lists, base, live, removed, texts = scenario
    index = HotlistIndex(lists, "pw:hot")
    index.build([n for n, _ in base], [t for _, t in base], [b"\x81\xa6reason\xa1x"] * len(base))
    for name, text in live:
        index.upsert(name, text, {"reason": "x"})
    for name, text in removed:
        index.remove(name, text)
    present = [e for e in dict.fromkeys(base + live) if e not in set(removed)]
    cands = lookup_texts(texts[0], 0.9, [(t, rnd.random()) for t in texts[1:]])
    got = {(m.list_name, m.entry): (m.kind, m.score, m.candidate) for m in match_texts(index, cands)}
    assert got == reference(present, lists, cands)


@given(plates, plates, fuzzies)
def test_judge_plate_agrees_with_textbook_levenshtein(a: str, b: str, fuzzy: str) -> None:
    assert judge_plate(a, b, fuzzy) == ref_plate(a, b, fuzzy)  # type: ignore[arg-type]


def test_confusions_and_partials_by_example() -> None:
    lists = {
        "stolen": ListSettings("stolen", fuzzy="strict"),
        "exact": ListSettings("exact", fuzzy="off"),
        "shooting": ListSettings("shooting", fuzzy="strict", partial=True),
    }
    index = HotlistIndex(lists, "pw:hot")
    index.build(["stolen", "exact"], ["7ABC123", "7ABC123"], [b"\x81\xa6reason\xa1x"] * 2)
    index.upsert("shooting", "6?K*4", {"reason": "witness"})
    kinds = {(m.list_name, m.kind) for m in match_texts(index, lookup_texts("7A8C123", 0.9))}
    assert kinds == {("stolen", "fuzzy")}  # B/8: alerted on the strict list, not on the exact-only one
    kinds = {(m.list_name, m.kind) for m in match_texts(index, lookup_texts("6XK9934", 0.9))}
    assert kinds == {("shooting", "partial")}
    # the 3rd candidate of the OCR is the right one: found, with a lower score
    got = match_texts(index, lookup_texts("7A8C128", 0.9, [("7A8C128", 0.9), ("7ABC123", 0.45)]))
    assert {(m.list_name, m.kind, m.score) for m in got} == {
        ("stolen", "exact", 0.5),
        ("exact", "exact", 0.5),
    }
    # a low-confidence character becomes unknown
    got = match_texts(
        index, lookup_texts("7ABX123", 0.9, char_confidences=[0.9, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9])
    )
    assert {(m.list_name, m.kind) for m in got} == {("stolen", "fuzzy")}
