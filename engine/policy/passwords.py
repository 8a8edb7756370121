"""Password hashing (argon2id) and the password policy.

Parameters: argon2id, time_cost 4, memory_cost 64 MiB, parallelism 2, 16-byte salt, 32-byte hash.
Measured on the project's 2-core development machine (argon2-cffi 25.1, 21 verifications): median
101 ms, p90 105 ms, so a login costs about a tenth of a second of one core and two lanes fit two
cores. RFC 9106's low-memory profile (t=3, p=4) measured 94 ms there; the same memory with fewer
lanes and one more pass suits a machine that has two cores rather than four. A stored hash made
with other parameters still verifies, and `needs_rehash` tells login to replace it.

The policy is a tuple of small rules, each returning the problem as a sentence, so a site (or a
test) can add or drop one and a person sees every problem with their password at once.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import PolicyError

ARGON2_TIME_COST = 4
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 2
MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; this only stops a megabyte "password" costing a hash

_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)

#: (password, username) -> the problem, or None when the rule is met.
Rule = Callable[[str, str], str | None]


class PasswordRejected(PolicyError):
    """A password that breaks the policy; `problems` lists every rule it breaks."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("password refused: " + "; ".join(self.problems))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not a password anyone has")


def burn_verification() -> None:
    """Spend what a real verification costs, so an unknown username answers as slowly as a known one."""
    verify_password(_dummy_hash(), "wrong")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list (lowercased): see data/common-passwords.NOTICE for its origin and licence."""
    data = resources.files("platewatch.engine.policy").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode("utf-8").splitlines() if line)


def min_length(n: int = MIN_LENGTH) -> Rule:
    def rule(password: str, username: str) -> str | None:
        if len(password) < n:
            return f"it must be at least {n} characters long (it has {len(password)})"
        if len(password) > MAX_LENGTH:
            return f"it must be at most {MAX_LENGTH} characters long"
        return None

    return rule


def not_common(common: frozenset[str] | None = None) -> Rule:
    def rule(password: str, username: str) -> str | None:
        listed = common if common is not None else common_passwords()
        if password.lower() in listed:
            return "it is on the list of commonly used passwords, which are guessed first"
        return None

    return rule


def not_containing_username() -> Rule:
    def rule(password: str, username: str) -> str | None:
        if username and username.lower() in password.lower():
            return "it must not contain the username"
        return None

    return rule


DEFAULT_RULES: tuple[Rule, ...] = (min_length(), not_common(), not_containing_username())


def check_password(password: str, username: str, rules: Iterable[Rule] = DEFAULT_RULES) -> None:
    """Raise PasswordRejected naming every rule the password breaks."""
    problems = [p for rule in rules if (p := rule(password, username)) is not None]
    if problems:
        raise PasswordRejected(problems)
