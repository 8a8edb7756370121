"""Passwords: argon2id round trip and the policy (length, common list, username), with readable refusals."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from hypothesis import given, settings
from hypothesis import strategies as st

from platewatch.engine.policy import passwords
from platewatch.engine.policy.passwords import (
    PasswordRejected,
    check_password,
    common_passwords,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_argon2id_round_trip_with_the_recorded_parameters() -> None:
    stored = hash_password("a long enough passphrase")
    assert stored.startswith("$argon2id$v=19$m=65536,t=4,p=2$")
    assert verify_password(stored, "a long enough passphrase")
    assert not verify_password(stored, "a long enough passphrasE")
    assert not verify_password("not a hash at all", "a long enough passphrase")
    assert not needs_rehash(stored)


def test_a_hash_made_with_other_parameters_verifies_and_asks_to_be_replaced() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("an older passphrase!")
    assert verify_password(old, "an older passphrase!")
    assert needs_rehash(old)


def test_the_shipped_common_list_is_there_and_lowercased() -> None:
    common = common_passwords()
    assert 10_000 <= len(common) <= 20_000
    assert "password" in common and "qwerty" in common
    assert all(p == p.lower() for p in list(common)[:500])


def test_each_rule_explains_itself_and_all_problems_are_reported_at_once() -> None:
    with pytest.raises(PasswordRejected) as err:
        check_password("alice1", "alice")  # short, common, and the username
    problems = err.value.problems
    assert len(problems) == 3
    assert "at least 12 characters" in problems[0] and "(it has 6)" in problems[0]
    assert "commonly used" in problems[1]
    assert "must not contain the username" in problems[2]
    assert str(err.value).startswith("password refused: ")


def test_a_common_password_is_refused_whatever_its_case() -> None:
    long_common = next(p for p in sorted(common_passwords()) if len(p) >= 12)
    with pytest.raises(PasswordRejected, match="commonly used"):
        check_password(long_common.upper(), "someone")


def test_the_username_is_found_case_insensitively() -> None:
    with pytest.raises(PasswordRejected, match="username"):
        check_password("my name is BOB.SMITH ok", "bob.smith")


def test_a_good_password_passes_and_rules_compose() -> None:
    check_password("violet tractor harbour 42", "alice")
    check_password("short", "alice", rules=[passwords.not_containing_username()])
    with pytest.raises(PasswordRejected):
        check_password("x" * 2000, "alice")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=11))
def test_anything_shorter_than_twelve_is_refused(password: str) -> None:
    with pytest.raises(PasswordRejected, match="at least 12"):
        check_password(password, "zz")


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[a-z0-9]{2,10}", fullmatch=True), st.text(max_size=20), st.text(max_size=20))
def test_any_password_containing_the_username_is_refused(username: str, before: str, after: str) -> None:
    with pytest.raises(PasswordRejected, match="username"):
        check_password(before + username.upper() + after, username)
