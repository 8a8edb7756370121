"""The webhook sender's pure parts: the retry schedule (exponential, equal jitter, capped), the
signed headers a Standard Webhooks receiver verifies, and secrets filled from the environment
without ever showing them."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from platewatch.engine.alerts.webhook_deliveries import Claim, retry_delay
from platewatch.engine.alerts.webhooks import (
    ACTION,
    check_secrets,
    signed_headers,
    signing_key,
    transfer_entry,
)
from platewatch.engine.config.env import MissingVariable, expand_env
from platewatch.engine.config.webhooks import WebhookConfig

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Fixed(random.Random):
    """A generator whose uniform() returns one end of the range."""

    def __init__(self, end: str) -> None:
        super().__init__(0)
        self.end = end

    def uniform(self, a: float, b: float) -> float:
        return a if self.end == "low" else b


def hook(**fields: object) -> WebhookConfig:
    base: dict[str, object] = {
        "name": "cad",
        "url": "https://cad.example/hook",
        "secret": SECRET,
        "recipient": "department",
    }
    return WebhookConfig.model_validate(base | fields)


def test_each_delay_is_between_half_and_all_of_its_doubling_step() -> None:
    lows = [retry_delay(n, 1.0, 300.0, Fixed("low")) for n in range(1, 12)]
    highs = [retry_delay(n, 1.0, 300.0, Fixed("high")) for n in range(1, 12)]
    assert lows == [0.5, 1, 2, 4, 8, 16, 32, 64, 128, 150, 150]
    assert highs == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def test_delays_do_not_shrink_below_the_cap_and_never_pass_it() -> None:
    rng = random.Random(7)
    for _ in range(200):
        growing = [retry_delay(n, 0.5, 60.0, rng) for n in range(1, 8)]  # steps 0.5 .. 32
        assert all(b >= a for a, b in itertools.pairwise(growing)), growing
        capped = [retry_delay(n, 0.5, 60.0, rng) for n in range(8, 30)]
        assert min(growing) >= 0.25 and all(30.0 <= d <= 60.0 for d in capped)


def test_jitter_spreads_senders_apart() -> None:
    rng = random.Random(1)
    fifth = [retry_delay(5, 1.0, 300.0, rng) for _ in range(500)]
    assert 8.0 <= min(fifth) < 8.5 and 15.5 < max(fifth) <= 16.0
    assert len({round(d, 3) for d in fifth}) > 400


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert retry_delay(10_000, 1.0, 300.0, Fixed("high")) == 300.0
    assert retry_delay(0, 1.0, 300.0, Fixed("high")) == 1.0  # treated as the first


def test_signed_headers_verify_and_a_changed_body_does_not() -> None:
    at = dt.datetime.now(dt.UTC)
    body = b'{"type":"alert.raised","timestamp":"2024-01-01T00:00:00+00:00","data":{}}'
    headers = signed_headers(signing_key(hook()), "msg_pw_cad_1", body, at)
    assert headers["webhook-id"] == "msg_pw_cad_1"
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(body, headers) == {
        "type": "alert.raised",
        "timestamp": "2024-01-01T00:00:00+00:00",
        "data": {},
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"raised", b"expired"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, headers | {"webhook-id": "msg_pw_cad_2"})


def test_the_secret_comes_from_the_environment_when_it_is_used() -> None:
    configured = hook(secret="${CAD_WEBHOOK_SECRET}")
    assert "whsec" not in repr(configured)
    signer = signing_key(configured, env={"CAD_WEBHOOK_SECRET": SECRET})
    body = b"{}"
    headers = signed_headers(signer, "m", body, dt.datetime.now(dt.UTC))
    assert Webhook(SECRET).verify(body, headers) == {}
    with pytest.raises(MissingVariable, match="CAD_WEBHOOK_SECRET, which is not set"):
        signing_key(configured, env={})


def test_an_unusable_secret_is_named_but_not_shown() -> None:
    broken = hook(secret="whsec_not*base64!")
    with pytest.raises(ValueError) as caught:
        signing_key(broken)
    assert "not a Standard Webhooks key" in str(caught.value) and "base64!" not in str(caught.value)
    assert check_secrets([hook(), broken, hook(name="other", url="https://x/${MISSING_TOKEN}")], env={}) == [
        "webhook cad's secret is not a Standard Webhooks key (whsec_ and base64)",
        "webhook other's URL needs environment variable MISSING_TOKEN, which is not set",
    ]


def test_expand_env_fills_every_reference() -> None:
    assert expand_env("a${X}b${Y_2}", "t", env={"X": "1", "Y_2": "2"}) == "a1b2"
    assert expand_env("no references $X {X}", "t", env={}) == "no references $X {X}"


def test_the_transfer_row_names_the_recipient_and_its_approval() -> None:
    agency = hook(
        name="county",
        recipient="public_agency",
        agency="County Sheriff",
        approval="DSR-2024-17",
        url="https://user:pw@county.example/hook",
    )
    entry = transfer_entry(agency, Claim(1, "county", 9, "alert-1", "msg_pw_county_9", 2), "verified")
    assert (entry.action, entry.username, entry.alert_id, entry.returned_ids) == (
        ACTION,
        "webhook-sender",
        "alert-1",
        ["alert-1"],
    )
    assert entry.terms == {
        "destination": "county",
        "recipient": "public_agency",
        "agency": "County Sheriff",
        "approval": "DSR-2024-17",
        "url": "https://user:***@county.example/hook",
        "event": "verified",
        "msg_id": "msg_pw_county_9",
        "attempt": 3,
    }
    entry.check()
