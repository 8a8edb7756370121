"""docs/policy.md is the department's map from each policy clause to the code that enforces it and the
test that shows it. A map that names a file that moved or a test that was renamed is worse than none:
this test reads the page and checks that every clause of policy 462 and of Civil Code 1798.90.51-.55
has a row, that no row says "not built", and that every file and test a row names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "policy.md"
REQUIRED = [
    *(f"462.2({c})" for c in "abcdef"),
    "462.3",
    *(f"462.4({c})" for c in "abc"),
    "462.5",
    "462.6",
    "462.7",
    *(f"1798.90.{n}" for n in (51, 52, 53, 54, 55)),
]
_CLAUSE = re.compile(r"(462\.\d)((?:\([a-z]\))*)|1798\.90\.(\d+)")
_TICKED = re.compile(r"`([^`]+)`")
_TEST_REF = re.compile(r"^(?:(?P<file>[\w./-]*test_\w+\.py))?(?:::(?P<name>test_\w+))?$")


def clause_rows() -> list[list[str]]:
    rows = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or set(line) <= {"|", "-", " "}:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if cells[0] == "clause":
            continue
        rows.append(cells)
    return rows


def clauses_of(cell: str) -> set[str]:
    found = set()
    for m in _CLAUSE.finditer(cell):
        if m.group(3):
            found.add(f"1798.90.{m.group(3)}")
        elif m.group(2):
            found |= {f"{m.group(1)}({c})" for c in re.findall(r"\(([a-z])\)", m.group(2))}
        else:
            found.add(m.group(1))
    return found


def _test_file(name: str) -> Path | None:
    path = ROOT / name
    if name.startswith("tests/") and path.exists():
        return path
    hits = sorted((ROOT / "tests").rglob(Path(name).name))
    return hits[0] if hits else None


def problems_in(row: list[str]) -> list[str]:
    """What a row names that does not exist, or what it lacks."""
    clause, text = row[0], " | ".join(row[1:])
    if "see 462" in text and len(row) <= 3:
        return []  # "see 462.2(d) above"
    out = []
    if "not built" in text:
        out.append(f"{clause}: says it is not built")
    code = tests = 0
    last_file: Path | None = None
    for token in _TICKED.findall(text):
        ref = _TEST_REF.match(token)
        if ref and (ref["file"] or ref["name"]):
            if ref["file"]:
                last_file = _test_file(ref["file"])
                if last_file is None:
                    out.append(f"{clause}: no test file {ref['file']}")
                    continue
            name = ref["name"]
            if name and (last_file is None or f"def {name}(" not in last_file.read_text(encoding="utf-8")):
                out.append(f"{clause}: no test {token} (in {last_file})")
                continue
            tests += 1
        elif re.fullmatch(r"(engine|agents|codecs|models|configs)/[\w/.-]+\.(py|sql|yaml)", token):
            code += 1
            if not (ROOT / token).exists():
                out.append(f"{clause}: no file {token}")
        elif re.fullmatch(r"[\w]+\.py", token) and not token.startswith("test_"):
            code += 1  # a module named beside a path given earlier in the row
    if not code:
        out.append(f"{clause}: names no code (a path under engine/, agents/, codecs/ …)")
    if not tests:
        out.append(f"{clause}: names no test")
    return out


def test_every_clause_has_a_row_naming_code_and_tests_that_exist() -> None:
    rows = clause_rows()
    covered = set().union(*(clauses_of(r[0]) for r in rows))
    missing = [c for c in REQUIRED if c not in covered]
    problems = [p for r in rows for p in problems_in(r)]
    assert not missing and not problems, "\n".join(
        [f"clauses without a row in docs/policy.md: {missing}"] * bool(missing) + problems
    )


def test_the_check_catches_a_renamed_test_a_moved_file_and_an_unbuilt_clause() -> None:
    good = ["462.2(f)", "`engine/alerts/lifecycle.py`", "`tests/integration/test_alert_lifecycle.py`"]
    assert problems_in(good) == []
    assert problems_in([good[0], good[1], "`test_alert_lifecycle.py::test_no_such_test`"])
    assert problems_in([good[0], "`engine/alerts/no_such.py`", good[2]])
    assert problems_in([good[0], "**not built yet**", good[2]])
    assert problems_in([good[0], good[1], "no test named"])
    assert clauses_of("462.2(a)(b), 462.4(b)") == {"462.2(a)", "462.2(b)", "462.4(b)"}
    assert clauses_of("Civil Code § 1798.90.55(b)") == {"1798.90.55"}
