"""`store.native_sql`: named placeholders to PostgreSQL's own, cached at any length."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platewatch.engine.store.native_sql import NativeSqlError, native, native_params


def test_each_name_is_one_number_in_order_of_first_use_and_percent_signs_are_unescaped() -> None:
    text, names = native("SELECT %(b)s, %(a)s, %(b)s WHERE x %% 7 = 0")
    assert text == b"SELECT $1, $2, $1 WHERE x % 7 = 0"
    assert names == ("b", "a")
    assert native_params(names, {"a": 2, "b": 1, "unused": 3}) == [1, 2]


def test_a_statement_longer_than_psycopgs_cache_limit_is_converted_once() -> None:
    sql = "SELECT %(a)s" + " " * 5000 + ", %(b)s"
    native.cache_clear()
    first = native(sql)
    assert native(sql) is first  # the cache kept it
    assert native.cache_info().hits == 1


@pytest.mark.parametrize("sql", ["SELECT %s", "SELECT 5 % 2", "SELECT %(a)d"])
def test_a_placeholder_it_does_not_convert_is_refused(sql: str) -> None:
    with pytest.raises(NativeSqlError):
        native(sql)


def test_a_missing_value_is_an_error_not_a_null() -> None:
    _, names = native("SELECT %(a)s")
    with pytest.raises(KeyError):
        native_params(names, {})


@given(st.lists(st.sampled_from(["x", "y", "zz", "w1"]), min_size=1, max_size=12))
def test_values_follow_their_names_wherever_they_repeat(order: list[str]) -> None:
    sql = " , ".join(f"%({n})s" for n in order)
    text, names = native(sql)
    values = dict(zip(["x", "y", "zz", "w1"], [10, 20, 30, 40], strict=True))
    bound = native_params(names, values)
    numbers = [int(t.strip().lstrip("$")) for t in text.decode().split(",")]
    assert [bound[n - 1] for n in numbers] == [values[n] for n in order]
