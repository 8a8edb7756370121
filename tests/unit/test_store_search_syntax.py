"""Search input handling without a database: patterns, confusions, cursors, refusals."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platewatch.engine.store.search import (
    SearchError,
    SearchQuery,
    build_query,
    decode_cursor,
    encode_cursor,
    normalise_pattern,
    pattern_regex,
    pattern_to_like,
    plate_key,
)


def test_patterns_are_normalised_to_plate_characters() -> None:
    assert normalise_pattern(" 7ab-?1 2** ") == "7AB?12*"
    assert pattern_to_like("7AB?12*") == "7AB_12%"
    assert pattern_regex("7AB?12*").match("7ABX12345") and not pattern_regex("7AB?12*").match("7AB12")


def test_confusions_fold_to_one_character() -> None:
    assert plate_key("O0DQ1ILT2Z5S6G8B") == "0000111122556688"
    assert plate_key("7ABC123") == "7A8C123"


def test_cursor_round_trips() -> None:
    when = datetime(2026, 11, 28, 12, 30, 1, 123456, tzinfo=UTC)
    assert decode_cursor(encode_cursor(when, "6f1c1c9e-8d3a-4c41-9d7b-2f9a0f5a1b2c")) == (
        when,
        "6f1c1c9e-8d3a-4c41-9d7b-2f9a0f5a1b2c",
    )


@given(st.text(max_size=200))
def test_any_text_is_refused_cleanly_or_becomes_safe_parameters(text: str) -> None:
    benign = {"plate": SearchQuery(plate="ABC"), "pattern": SearchQuery(pattern="AB*")}
    for kind, query in (("plate", SearchQuery(plate=text)), ("pattern", SearchQuery(pattern=text))):
        try:
            sql, params = build_query(query)
        except SearchError:
            continue
        assert sql == build_query(benign[kind])[0]  # input never changes the SQL text
        for key in ("plate", "like", "key", "key_like"):
            if key in params:
                assert set(params[key]) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_%")
                assert len(params[key]) <= 16
    with contextlib.suppress(SearchError):
        decode_cursor(text)


def test_sql_shape_per_kind() -> None:
    exact, p = build_query(SearchQuery(plate="7abc123"))
    assert "plate_norm = %(plate)s" in exact and p["key"] == "7A8C123"
    fuzzy, p = build_query(SearchQuery(plate="7abc123", fuzzy=True))
    assert "plate_norm = " not in fuzzy
    _, p = build_query(SearchQuery(pattern="7AB*", cameras=("c1",)))
    assert p["like"] == "7AB%" and p["key_like"] == "7A8%" and p["cameras"] == ["c1"]
    with pytest.raises(SearchError):
        build_query(SearchQuery(pattern="7*"))
