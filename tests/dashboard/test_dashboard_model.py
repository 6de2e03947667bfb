"""The dashboard's pure state: bounded ring, filtered view, timelines, health bookkeeping."""

from __future__ import annotations

from dataclasses import replace

from dashboard.clock import FrozenClock
from dashboard.filters import parse_filter
from dashboard.health import Health
from dashboard.lines import MALFORMED, Malformed
from dashboard.model import Model, Timelines
from dashboard.source import Batch, SourceStatus
from streams.records import DeadLetter, WebhookAttempt
from tests.dashboard.sample import NOW, T0, event, messages


def feed(model: Model, events: list, size: int = 100) -> None:
    for i in range(0, len(events), size):
        model.ingest(Batch(events=events[i : i + size]))


def test_the_log_ring_keeps_only_the_newest_lines_up_to_its_capacity():
    model = Model(FrozenClock(NOW), capacity=50)
    events = messages(200)
    feed(model, events)
    assert model.received == len(events)
    assert len(model.lines) == 50
    assert len(model.view) == 50
    assert [line.message_id for line in model.lines] == [e.message_id for e in events[-50:]]


def test_a_filter_applies_to_new_lines_and_to_the_lines_already_held():
    model = Model(FrozenClock(NOW))
    events = messages(200)
    feed(model, events[:100])
    model.set_filter(parse_filter("type:bounced,deferred"))
    feed(model, events[100:])
    wanted = [e for e in events if e.type in ("bounced", "deferred")]
    assert [line.message_id for line in model.view] == [e.message_id for e in wanted]
    assert model.matched == len(wanted) > 0
    model.set_filter(parse_filter(""))
    assert len(model.view) == len(events)


def test_the_filtered_view_is_bounded_like_the_ring():
    model = Model(FrozenClock(NOW), capacity=10)
    model.set_filter(parse_filter("type:queued"))
    feed(model, messages(100))
    assert len(model.view) == 10
    assert all(line.kind == "queued" for line in model.view)


def test_a_malformed_record_becomes_a_line_of_its_own_and_is_counted():
    model = Model(FrozenClock(NOW))
    bad = Malformed("herald.events", 3, 77, T0 + 5, "not a valid Event: malformed JSON")
    model.ingest(Batch(events=messages(2), malformed=[bad]))
    line = model.lines[-1]
    assert (line.kind, line.recipient, line.detail) == (
        MALFORMED,
        "herald.events[3]@77",
        "not a valid Event: malformed JSON",
    )
    assert model.malformed == 1
    assert model.throughput.totals[MALFORMED] == 1


def test_timelines_keep_recent_messages_and_ignore_a_redelivered_event():
    timelines = Timelines(limit=3, per_message=4)
    for n in range(5):
        timelines.add(event("queued", n, T0 + n, "ws", f"u{n}@x.org"))
    assert len(timelines) == 3
    assert timelines.get("msg_sample_0000") == []
    queued = event("queued", 4, T0, "ws", "u4@x.org")
    timelines.add(queued)  # the same event id again
    assert [e.type for e in timelines.get("msg_sample_0004")] == ["queued"]


def test_a_long_timeline_keeps_its_first_event_and_the_latest_ones():
    timelines = Timelines(limit=10, per_message=3)
    kinds = ["queued", "deferred", "sent", "delivered", "opened"]
    for seq, kind in enumerate(kinds, start=1):
        timelines.add(event(kind, 1, T0 + seq, "ws", "a@x.org", seq=seq))
    assert [e.type for e in timelines.get("msg_sample_0001")] == ["queued", "delivered", "opened"]


def test_timeline_events_come_in_sequence_order():
    model = Model(FrozenClock(NOW))
    sent = event("sent", 9, T0 + 2, "ws", "a@x.org", seq=2)
    queued = event("queued", 9, T0 + 1, "ws", "a@x.org", seq=1)
    model.ingest(Batch(events=[sent, queued]))
    assert [e.type for e in model.timeline("msg_sample_0009")] == ["queued", "sent"]


def test_recent_events_of_an_address_come_newest_first_without_duplicates():
    model = Model(FrozenClock(NOW), capacity=5)
    feed(model, messages(400))
    recent = model.recent_for("  ADA@example.com ")
    assert [line.kind for line in recent] == ["suppressed", "queued", "bounced", "queued"]
    assert recent[0].at > recent[-1].at


def test_health_remembers_when_the_broker_was_first_found_unreachable():
    model = Model(FrozenClock(NOW))
    model.set_health(Health(reachable=False, checked_at=T0 + 1, error="refused"))
    model.set_health(Health(reachable=False, checked_at=T0 + 4, error="refused"))
    assert model.down_since == T0 + 1
    model.set_health(Health(reachable=True, checked_at=T0 + 7))
    assert model.down_since is None


def test_a_batch_status_is_the_source_status():
    model = Model(FrozenClock(NOW))
    model.ingest(Batch(status=SourceStatus(connected=True, detail="reading 12 partitions")))
    assert model.status.connected
    model.ingest(Batch(events=messages(1)))
    assert model.status.detail == "reading 12 partitions"


def test_dead_letters_are_counted_and_the_latest_reasons_kept():
    model = Model(FrozenClock(NOW))
    letters = [DeadLetter("herald.outcomes", f"reason {i}", "{}", T0 + i) for i in range(30)]
    model.ingest(Batch(dead_letters=letters))
    assert model.dead_letters.seen == 30
    assert [d.reason for d in model.dead_letters.latest][-2:] == ["reason 28", "reason 29"]
    assert len(model.dead_letters.latest) == 20


def test_an_endpoint_is_failing_while_its_latest_attempt_failed():
    model = Model(FrozenClock(NOW))
    ok = WebhookAttempt("wh_1", "ws", ("evt_1",), 1, T0 + 1, "succeeded", status=200)
    bad = replace(ok, at=T0 + 2, outcome="failed", status=500)
    late_old = replace(ok, at=T0 + 0.5)  # an older attempt read after: changes nothing
    model.ingest(Batch(attempts=[ok, bad, late_old]))
    assert [a.endpoint_id for a in model.webhooks.failing()] == ["wh_1"]
    model.ingest(Batch(attempts=[replace(ok, at=T0 + 3)]))
    assert model.webhooks.failing() == []
