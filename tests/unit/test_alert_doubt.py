"""Issue 25, the recall ceiling and multi-frame evidence: a doubted character or length lets a read
find an entry the confusion rules would not (a confident one never moves); letters and digits keep
their runs; a pass's frames are voted as the tracker votes them before they are matched."""

from __future__ import annotations

from platewatch.engine.bench.alerts import (
    BenchRead,
    choose_thresholds,
    figures_at,
    group_passes,
    match_all,
    pass_figures,
    voted,
)
from platewatch.engine.hotlist import HotlistIndex, ListSettings
from platewatch.engine.hotlist.matcher import (
    ReadEvidence,
    doubted_lookups,
    likelihood,
    lookup_texts,
    match_read_text,
    neighbour_kinds,
    read_evidence,
)


def _index(*plates: str, fuzzy: str = "strict") -> HotlistIndex:
    index = HotlistIndex({"stolen": ListSettings("stolen", fuzzy=fuzzy)}, "pw:hot")  # type: ignore[arg-type]
    index.build(["stolen"] * len(plates), list(plates), [b"reason\x1fx"] * len(plates))
    return index


def _q(at: int, q: float, n: int = 7) -> tuple[float, ...]:
    return tuple(q if i == at else 0.999 for i in range(n))


def test_an_unsure_character_finds_any_character_there() -> None:
    # H for M is no confusion class: a strict list never matched it, whatever the read said
    index = _index("7ABM123")
    unsure = match_read_text(index, "7ABH123", 0.6, [("7ABH123", 0.6)], _q(3, 0.6))
    assert [(m.entry, m.kind, m.differs) for m in unsure] == [("7ABM123", "fuzzy", (3,))]
    assert unsure[0].evidence > 0
    # the same misread read with confidence is taken as read: nothing is found
    assert match_read_text(index, "7ABH123", 0.999, [("7ABH123", 0.999)], _q(3, 0.999)) == []
    # and an `off` list never matches beyond exact
    assert match_read_text(_index("7ABM123", fuzzy="off"), "7ABH123", 0.6, [], _q(3, 0.6)) == []


def test_a_doubted_length_finds_a_dropped_character() -> None:
    index = _index("7ABC123")
    # the candidates put much of their mass on a seven-character reading: the length is in doubt
    doubted = ("7ABC12", 0.5, [("7ABC12", 0.5), ("7ABC128", 0.45)], _q(0, 0.999, 6))
    ev = read_evidence(*doubted)
    assert ev.aligned < 0.95
    variants = {lookup.text for lookup in doubted_lookups(ev, lookup_texts(*doubted[:3]))}
    assert "7ABC12?" in variants and "?7ABC12" in variants
    (m,) = match_read_text(index, *doubted)
    assert (m.entry, m.kind) == ("7ABC123", "fuzzy")
    # a sure six-character read is not searched for a seventh character
    sure = ("7ABC12", 0.999, [("7ABC12", 0.999)], _q(0, 0.999, 6))
    assert read_evidence(*sure).aligned > 0.95
    assert match_read_text(index, *sure) == []


def test_letters_and_digits_keep_their_runs() -> None:
    assert neighbour_kinds("AB1O23") == [(1, 0), (1, 1), (2, 0), (0, 2), (1, 1), (0, 1)]
    between_digits = read_evidence("AB1O23", 0.9, [], (0.999, 0.999, 0.999, 0.9, 0.999, 0.999))
    between_letters = read_evidence("1ABOCD", 0.9, [], (0.999, 0.999, 0.999, 0.9, 0.999, 0.999))
    assert between_digits.chars[3].prob("0") > 2 * between_letters.chars[3].prob("0")


def _frame(truth: str, plate: str, q: float) -> BenchRead:
    return BenchRead("pass", truth, plate, q, (q,) * len(plate), ((plate, q),))


def test_a_pass_is_voted_before_it_is_matched() -> None:
    frames = [
        _frame("7ABC123", "7ABC123", 0.9),
        _frame("7ABC123", "7A8C123", 0.6),
        _frame("7ABC123", "7ABC123", 0.9),
    ]
    (one,) = group_passes(frames + frames[:2], 3)  # an incomplete pass at the end is dropped
    v = voted(one)
    assert v.plate == "7ABC123" and v.truth == "7ABC123" and v.source == "pass"
    assert v.candidates[0][0] == "7ABC123" and "7A8C123" in {t for t, _ in v.candidates}
    assert voted([_frame("7ABC123", "", 0.0)]).plate == ""


def test_pass_figures_count_every_pass_once() -> None:
    passes = [[_frame(p, p, 0.95) for _ in range(3)] for p in ("7ABC123", "8XYZ456", "5KLM789", "6QRS012")]
    index = _index(*(p[0].truth for p in passes))
    figures = pass_figures(index, passes, 462, 0.01, 0.0005)
    final, _ = match_all(index, [voted(p) for p in passes], 462, 10_000_000)
    scoring = [o for o in final if not o.selection]
    assert figures["passes"] == 4 and figures["frames"] == 3
    assert {"first_frame", "provisional", "vote", "stream", "curve_selection"} <= set(figures)
    assert figures["vote"]["listed_reads"] + figures["vote"]["withheld_reads"] == len(scoring)
    # every plate is listed here and read exactly, so every listed pass of the scoring half alerts
    listed = [o for o in scoring if o.listed]
    assert figures["vote"]["recall_listed"]["hits"] == len(listed)
    # the vote's own thresholds are chosen on its selection half and scored on the other
    chosen = choose_thresholds([o for o in final if o.selection])
    assert (figures["chosen_alert_threshold"], figures["chosen_possible_threshold"]) == chosen
    assert figures["vote_at_chosen"] == figures_at(scoring, *chosen)
    assert figures["stream_waiting_at_chosen"]["reads"] == len(scoring)


def test_a_dropped_first_character_is_the_likeliest_drop() -> None:
    # calibrated on the recognizer's reads: it drops a plate's first character far more often than
    # any one middle character, and the characters it did read still have to agree
    ev = read_evidence("ABC123", 0.5, [("ABC123", 0.5), ("7ABC123", 0.3)], _q(0, 0.999, 6))
    first = _drop(ev, "9ABC123")
    middle = _drop(ev, "ABC9123")
    garbled = _drop(ev, "9XYZ123")
    assert first > 2 * middle > 0 and garbled < first / 100


def _drop(ev: ReadEvidence, entry: str) -> float:
    return likelihood(ev, entry)[0]
