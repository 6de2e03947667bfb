import pytest

from agents.expand import deliveries
from agents.outcomes import event_for
from streams.records import (
    Content,
    Delivery,
    Recipient,
    RecordError,
    SendRequested,
    decode,
    encode,
)


def request() -> SendRequested:
    return SendRequested(
        request_id="req_1",
        workspace_id="ws_1",
        recipients=(
            Recipient("a@example.com", "to", "msg_a"),
            Recipient("b@example.com", "cc", "msg_b"),
            Recipient("c@example.com", "bcc", "msg_c"),
        ),
        content=Content(
            sender="hello@yourdomain.com",
            subject="Welcome 👋",
            to=("a@example.com",),
            cc=("b@example.com",),
            html="<h1>Hi 👋</h1>",
            tags=("onboarding",),
        ),
        accepted_at=1.0,
    )


def test_records_round_trip_through_the_topic_codec():
    r = request()
    assert decode(encode(r), SendRequested) == r


@pytest.mark.parametrize(
    "payload",
    [b"", b"not json", b"{}", b'{"request_id": 1}', b"[1,2]", None],
)
def test_malformed_records_are_refused_with_a_record_error(payload):
    with pytest.raises(RecordError):
        decode(payload, SendRequested)


def test_expansion_gives_one_delivery_per_recipient_with_its_own_message_id():
    ds = deliveries(request())
    assert [(d.recipient, d.message_id) for d in ds] == [
        ("a@example.com", "msg_a"),
        ("b@example.com", "msg_b"),
        ("c@example.com", "msg_c"),
    ]
    assert all(d.attempt == 0 and d.content.subject == "Welcome 👋" for d in ds)


def test_event_ids_are_stable_for_the_same_step_and_differ_between_attempts():
    d = deliveries(request())[0]
    first = event_for(d, "deferred", at=1.0)
    again = event_for(d, "deferred", at=2.0)
    retried = event_for(d.next_attempt(due_at=5.0), "deferred", at=3.0)
    assert first.event_id == again.event_id
    assert retried.event_id != first.event_id
    assert isinstance(d, Delivery)


def test_queued_event_carries_the_message_summary_for_the_status_api():
    d = deliveries(request())[0]
    queued = event_for(d, "queued", at=1.0)
    assert (queued.sender, queued.subject, queued.tags) == (
        "hello@yourdomain.com",
        "Welcome 👋",
        ("onboarding",),
    )
    assert event_for(d, "sent", at=1.0).subject is None
