"""Secrets never reach the logs, whichever way they get into a record."""

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platewatch.engine.logs import RedactingFilter
from platewatch.engine.redaction import redact, redact_url


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
        # commas and semicolons are legal in passwords: the whole value goes, not its first part
        ("retry with password=p,ss;w0rd now", "ss;w0rd"),
        # settings are named with prefixes
        ("loaded DB_PASSWORD=hunter22 from env", "hunter22"),
        ("kafka.sasl_plain_password = k4fk4 set", "k4fk4"),
        ("env __password=und3r _token=t0k", "und3r"),
        ("env __password=und3r _token=t0k", "t0k"),
        ("settings {'__api_key': 'dunder-k3y'}", "dunder-k3y"),
        # a quote that does not close the value does not end it
        ("password='ab'cdefg failed", "cdefg"),
        # mapping reprs and JSON
        ("settings {'user': 'a', 'password': 'sw0rdfish'} loaded", "sw0rdfish"),
        ('body {"api_key": "k-123-xyz", "n": 1}', "k-123-xyz"),
        ("{'token': abc123}", "abc123"),
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


def test_redact_keeps_what_only_looks_like_a_secret_key() -> None:
    text = "bypass=1 compass=north passenger=3 {'tokens_used': 4} user=bob&n=1"
    assert redact(text) == text


def test_redact_keeps_the_query_after_a_secret() -> None:
    assert redact("GET /x?token=abc&camera=gate-3 200") == "GET /x?token=***&camera=gate-3 200"


@given(
    secret=st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), blacklist_characters="&"),
        min_size=8,
    ),
    key=st.sampled_from(["password", "PASSWORD", "db_password", "token", "api_key", "secret"]),
)
def test_no_secret_survives_in_a_key_value_pair(secret: str, key: str) -> None:
    cleaned = redact(f"login failed {key}={secret} for user bob")
    assert secret not in cleaned
    assert cleaned.endswith(" for user bob")


@given(secret=st.text(alphabet=st.characters(blacklist_characters="'\\", min_codepoint=33), min_size=8))
def test_no_secret_survives_in_a_mapping_repr(secret: str) -> None:
    assert secret not in redact(str({"camera": "gate", "password": secret}))


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


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5/stream1", "rtsp://admin:***@10.0.0.5/stream1"),
        ("rtsp://admin:${CAM1_PASSWORD}@10.0.0.5/s", "rtsp://admin:***@10.0.0.5/s"),
        ("rtsp://user:p@ss@cam/s", "rtsp://user:***@cam/s"),  # an unescaped @ in the password
        ("whep+https://gw/x?cam_token=t0k&camera=1", "whep+https://gw/x?cam_token=***&camera=1"),
        ("rtsp://cam/live;password=s3cret", "rtsp://cam/live;password=***"),
        ("file:///data/demo.mp4", "file:///data/demo.mp4"),
        ("/data/demo.mp4", "/data/demo.mp4"),
    ],
)
def test_camera_urls_are_shown_without_passwords(url: str, shown: str) -> None:
    # one URL redactor for service and camera URLs (the service cases: tests/integration/test_services.py)
    assert redact_url(url) == shown
