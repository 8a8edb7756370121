"""Secrets never reach the logs, whichever way they get into a record."""

import logging

import pytest

from platewatch.engine.logs import RedactingFilter, redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("connect rtsp://admin:s3cret@10.0.0.5:554/stream failed", "s3cret"),
        ("postgresql://pw:hunter2@db:5432/x refused", "hunter2"),
        ("retry with password=topsecret&user=a", "topsecret"),
        ("token=abc.def.ghi expired", "abc.def.ghi"),
        # the keys service URLs hide are hidden in free text too (one list: engine/redaction.py)
        ("dsn host=db sslpassword=keyphrase user=a", "keyphrase"),
        ("GET /x?access_token=tok123&n=1", "tok123"),
        ("libpq: password = 'two words' rejected", "two words"),
    ],
)
def test_redact_removes_secrets_but_keeps_context(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "***" in cleaned


def test_redact_leaves_urls_without_passwords_alone() -> None:
    assert (
        redact("rtsp://10.0.0.5:554/stream and redis://cache:6379/0")
        == "rtsp://10.0.0.5:554/stream and redis://cache:6379/0"
    )


def test_filter_scrubs_arguments_and_exception_text() -> None:
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "camera %s down", ("rtsp://u:pw1@h/s",), None
    )
    try:
        raise ConnectionError("cannot open rtsp://u:pw2@h/s")
    except ConnectionError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert "pw1" not in record.getMessage()
    assert (
        record.exc_text is not None and "pw2" not in record.exc_text and "ConnectionError" in record.exc_text
    )
