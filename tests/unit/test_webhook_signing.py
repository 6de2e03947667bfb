"""Deliveries verify with the reference Standard Webhooks library, as receivers will check them."""

from __future__ import annotations

import time

import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from streams.webhook_secrets import new_secret, secret_bytes
from streams.webhook_signing import (
    batch_body,
    batch_id,
    delivery_headers,
    event_body,
    signature,
)

DATA = {"id": "evt_1", "type": "delivered", "recipient": "ada@example.com", "tags": ["a"]}


def signed(secrets: list[str], msg_id: str = "evt_1") -> tuple[bytes, dict[str, str]]:
    body = event_body("delivered", 1_700_000_000.25, DATA)
    headers = delivery_headers(msg_id, int(time.time()), body, [secret_bytes(s) for s in secrets])
    return body, headers


def test_the_published_example_signature_is_reproduced():
    # The example from the Standard Webhooks specification.
    secret = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert (
        signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_delivery_verifies_and_carries_the_event():
    secret = new_secret()
    body, headers = signed([secret])
    assert Webhook(secret).verify(body, headers) == {
        "type": "delivered",
        "timestamp": "2023-11-14T22:13:20.250000Z",
        "data": DATA,
    }
    assert headers["webhook-id"] == "evt_1"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Herald-Webhooks/")


def test_during_a_rotation_both_secrets_verify_and_no_other():
    old, new = new_secret(), new_secret()
    body, headers = signed([old, new])
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_a_tampered_body_is_refused():
    secret = new_secret()
    body, headers = signed([secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"ada@", b"eve@"), headers)


def test_a_changed_id_is_refused():
    secret = new_secret()
    body, headers = signed([secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "evt_2"})


def test_a_changed_timestamp_is_refused():
    secret = new_secret()
    body, headers = signed([secret])
    later = str(int(headers["webhook-timestamp"]) + 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-timestamp": later})


def test_an_old_attempt_is_refused_by_the_receivers_clock():
    secret = new_secret()
    body = event_body("delivered", 0.0, DATA)
    headers = delivery_headers("evt_1", int(time.time()) - 3600, body, [secret_bytes(secret)])
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(body, headers)


def test_no_secret_means_no_delivery():
    with pytest.raises(ValueError, match="secret"):
        delivery_headers("evt_1", 0, b"{}", [])


def test_a_batch_holds_each_event_as_it_would_look_alone_and_takes_the_newest_time():
    body = batch_body([("sent", 10.0, {"id": "evt_a"}), ("opened", 20.5, {"id": "evt_b"})])
    assert orjson.loads(body) == {
        "type": "batch",
        "timestamp": "1970-01-01T00:00:20.500000Z",
        "data": [
            orjson.loads(event_body("sent", 10.0, {"id": "evt_a"})),
            orjson.loads(event_body("opened", 20.5, {"id": "evt_b"})),
        ],
    }


def test_a_batch_verifies_like_a_single_event():
    secret = new_secret()
    body = batch_body([("sent", 10.0, {"id": "evt_a"})])
    msg_id = batch_id(["evt_a"])
    headers = delivery_headers(msg_id, int(time.time()), body, [secret_bytes(secret)])
    assert Webhook(secret).verify(body, headers)["type"] == "batch"


def test_a_batch_id_depends_on_which_events_not_their_order():
    first = batch_id(["evt_a", "evt_b", "evt_c"])
    assert first == batch_id(["evt_c", "evt_a", "evt_b"])
    assert first != batch_id(["evt_a", "evt_b"])
    assert first.startswith("bat_") and len(first) == 4 + 26
