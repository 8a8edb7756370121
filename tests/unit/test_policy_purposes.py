"""Purpose and case number (policy 462.2(a)(b)(e), 462.4(b)): the refusal names the missing or bad field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.policy.purposes import PurposeError, check_purpose

CFG = AccessConfig()


def test_a_purpose_and_a_case_number_in_the_format_pass() -> None:
    stated = check_purpose(CFG, "  Criminal   Investigation ", " 24-001234 ")
    assert (stated.purpose, stated.case_number, stated.alert_id) == (
        "criminal investigation",
        "24-001234",
        None,
    )
    assert check_purpose(CFG, "routine patrol", "CR2024-00012").case_number == "CR2024-00012"


@pytest.mark.parametrize(
    ("purpose", "case", "alert", "field", "words"),
    [
        (None, "24-001234", None, "purpose", "state the purpose"),
        ("", "24-001234", None, "purpose", "routine patrol"),
        ("curiosity", "24-001234", None, "purpose", "not a purpose this department allows"),
        ("criminal investigation", None, None, "case_number", "needs a case or incident number"),
        ("criminal investigation", "  ", None, "case_number", "for example 24-001234"),
        ("criminal investigation", "abc", None, "case_number", "not a case or incident number"),
        ("alert verification", "24-001234", None, "alert_id", "id of the alert"),
        ("alert verification", None, "bad id!", "alert_id", "not an alert id"),
    ],
)
def test_each_refusal_names_its_field(
    purpose: str | None, case: str | None, alert: str | None, field: str, words: str
) -> None:
    with pytest.raises(PurposeError, match=words) as err:
        check_purpose(CFG, purpose, case, alert)
    assert err.value.field == field


def test_alert_verification_takes_an_alert_id_instead_of_a_case() -> None:
    stated = check_purpose(CFG, "alert verification", None, "a1b2c3d4-0000-4000-8000-000000000000")
    assert stated.purpose == "alert verification" and stated.case_number is None
    assert stated.alert_id == "a1b2c3d4-0000-4000-8000-000000000000"
    # a case number may come too, and must then be in the format
    with pytest.raises(PurposeError) as err:
        check_purpose(CFG, "alert verification", "nope", "a1")
    assert err.value.field == "case_number"


def test_the_purposes_and_format_are_configuration() -> None:
    cfg = AccessConfig(purposes=["homicide"], case_number_pattern=r"^H\d{4}$", case_number_example="H0001")
    assert check_purpose(cfg, "homicide", "H1234").purpose == "homicide"
    with pytest.raises(PurposeError, match="for example H0001"):
        check_purpose(cfg, "homicide", "24-001234")
    with pytest.raises(PurposeError) as err:
        check_purpose(cfg, "alert verification", None, "a1")
    assert err.value.field == "purpose"  # not configured here, so not allowed


@given(st.text(max_size=40))
def test_only_full_matches_of_the_pattern_pass(case: str) -> None:
    import re

    try:
        stated = check_purpose(CFG, "criminal investigation", case)
    except PurposeError as err:
        assert err.field == "case_number"
    else:
        assert stated.case_number is not None
        assert re.fullmatch(CFG.case_number_pattern, stated.case_number)
