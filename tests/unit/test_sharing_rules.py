"""The sharing rules without a database: who is eligible (each refusal naming its rule), what a
request may ask for, which reads it covers, and what a written request may be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from platewatch.engine.policy.sharing import (
    MAX_DOCUMENT_BYTES,
    RECORDS_RELEASE,
    RULE_CALIFORNIA,
    RULE_LAW_ENFORCEMENT,
    RULE_PUBLIC_AGENCY,
    Agency,
    AgencyKind,
    DataAsked,
    Document,
    DocumentRejected,
    SharingError,
    eligibility,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
PDF = b"%PDF-1.7\n%signed request\n%%EOF\n"


@pytest.mark.parametrize(
    ("agency", "rules"),
    [
        (Agency("Palo Alto PD", AgencyKind.LAW_ENFORCEMENT, "CA", True), []),
        (Agency("Santa Clara County DA", AgencyKind.PROSECUTORIAL, "CA", True), []),
        (Agency("Reno PD", AgencyKind.LAW_ENFORCEMENT, "NV", True), [RULE_CALIFORNIA]),
        (Agency("FBI", AgencyKind.LAW_ENFORCEMENT, "US", True), [RULE_CALIFORNIA]),
        (Agency("Campus Security Inc", AgencyKind.LAW_ENFORCEMENT, "CA", False), [RULE_PUBLIC_AGENCY]),
        (
            Agency("Acme Repossessions", AgencyKind.PRIVATE, "CA", False),
            [RULE_PUBLIC_AGENCY, RULE_LAW_ENFORCEMENT],
        ),
        (
            Agency("Acme (says public)", AgencyKind.PRIVATE, "CA", True),
            [RULE_PUBLIC_AGENCY, RULE_LAW_ENFORCEMENT],
        ),
        (Agency("PAUSD", AgencyKind.OTHER_PUBLIC, "CA", True), [RULE_LAW_ENFORCEMENT]),
        (Agency("Nevada DMV", AgencyKind.OTHER_PUBLIC, "NV", True), [RULE_CALIFORNIA, RULE_LAW_ENFORCEMENT]),
    ],
)
def test_each_refusal_names_its_rule_and_both_rules_are_checked(agency: Agency, rules: list[str]) -> None:
    found = eligibility(agency)
    assert [r.rule for r in found] == rules
    for refusal in found:
        assert str(refusal).startswith(refusal.rule + ": ")
        if refusal.rule != RULE_LAW_ENFORCEMENT:
            assert agency.name in refusal.message
    if RULE_LAW_ENFORCEMENT in rules:  # a non-law-enforcement body is pointed to records release
        assert RECORDS_RELEASE in str(found[-1]) and "records release" in RECORDS_RELEASE


def _asked(**over: object) -> DataAsked:
    fields: dict[str, object] = {
        "plate": "7abc-123",
        "pattern": None,
        "time_from": T0,
        "time_to": T0 + timedelta(days=2),
        "cameras": (" gate ", "gate", "north"),
    }
    fields.update(over)
    return DataAsked(**fields).checked()  # type: ignore[arg-type]


def test_what_a_request_asks_for_is_checked_and_normalised() -> None:
    asked = _asked()
    assert asked.plate == "7ABC123" and asked.cameras == ("gate", "north")
    assert _asked(plate=None, pattern="7ab**1?3").pattern == "7AB*1?3"
    for bad, words in (
        ({"pattern": "7AB*"}, "one plate or one pattern"),
        ({"plate": None}, "one plate or one pattern"),
        ({"plate": "--"}, "1 to 16"),
        ({"plate": None, "pattern": "?*1"}, "2 known"),
        ({"time_to": T0}, "before its end"),
        ({"time_from": T0.replace(tzinfo=None)}, "time zone"),
        ({"time_to": T0 + timedelta(days=400)}, "at most 366 days"),
        ({"cameras": ("gate; DROP TABLE reads",)}, "camera id"),
    ):
        with pytest.raises(SharingError, match=words):
            _asked(**bad)


def test_a_read_is_covered_only_by_plate_or_pattern_time_and_camera() -> None:
    asked = _asked()
    inside = T0 + timedelta(hours=1)
    assert asked.covers(inside, "gate", "7ABC123")
    assert asked.covers(T0, "north", "7ABC123") and asked.covers(T0 + timedelta(days=2), "gate", "7ABC123")
    assert not asked.covers(inside, "gate", "7A8C123")  # no fuzzy: the agency asked for one plate
    assert not asked.covers(T0 - timedelta(seconds=1), "gate", "7ABC123")
    assert not asked.covers(T0 + timedelta(days=2, seconds=1), "gate", "7ABC123")
    assert not asked.covers(inside, "south", "7ABC123")
    anywhere = _asked(cameras=())
    assert anywhere.covers(inside, "south", "7ABC123")
    partial = _asked(plate=None, pattern="7AB?1*")
    assert partial.covers(inside, "gate", "7ABC123") and partial.covers(inside, "gate", "7ABX1")
    assert not partial.covers(inside, "gate", "7ABC223") and not partial.covers(inside, "gate", "X7ABC123")


def test_a_written_request_must_be_a_document_of_the_type_it_claims() -> None:
    doc = Document("../../etc/Request 24-17.pdf", "application/pdf; charset=binary", PDF).checked()
    assert doc.filename == "Request 24-17.pdf" and doc.content_type == "application/pdf"
    assert len(doc.sha256) == 32
    assert Document("scan.tif", "image/tiff", b"II*\x00rest").checked().content_type == "image/tiff"
    with pytest.raises(DocumentRejected, match="empty"):
        Document("r.pdf", "application/pdf", b"").checked()
    with pytest.raises(DocumentRejected, match="not a application/pdf"):
        Document("r.pdf", "application/pdf", b"<html><script>").checked()
    with pytest.raises(DocumentRejected, match="one of application/pdf"):
        Document("r.html", "text/html", b"<html>").checked()
    with pytest.raises(DocumentRejected, match="MiB") as big:
        Document("r.pdf", "application/pdf", b"%PDF-" + bytes(MAX_DOCUMENT_BYTES)).checked()
    assert big.value.too_large
