"""Records into batches, malformed ones included; lag arithmetic; suppression folding."""

from __future__ import annotations

from dataclasses import dataclass, replace

from dashboard.decode import decode_records
from dashboard.health import GroupHealth, Health, PartitionLag, partition_lags
from dashboard.source import current_entries
from streams.records import DeadLetter, SuppressionChange, WebhookAttempt, encode
from tests.dashboard.sample import ADA_SUPPRESSION, T0, event


@dataclass
class Record:
    offset: int
    timestamp: int
    value: bytes | None


def test_records_of_each_topic_are_decoded_into_one_batch():
    queued = event("queued", 1, T0, "ws", "a@x.org")
    letter = DeadLetter("herald.outcomes", "bad", "{}", T0)
    attempt = WebhookAttempt("wh_1", "ws", ("evt_1",), 1, T0, "failed", status=500)
    batch = decode_records(
        {
            ("herald.events", 0): [Record(5, 1000, encode(queued))],
            ("herald.deadletters", 1): [Record(0, 1000, encode(letter))],
            ("herald.webhooks.attempts", 2): [Record(9, 1000, encode(attempt))],
            ("herald.unrelated", 0): [Record(0, 1000, b"whatever")],
        }
    )
    assert list(batch.events) == [queued]
    assert list(batch.dead_letters) == [letter]
    assert list(batch.attempts) == [attempt]
    assert batch.malformed == []
    assert len(batch) == 3


def test_malformed_records_are_reported_with_where_they_are_and_the_rest_still_decoded():
    good = event("sent", 2, T0, "ws", "a@x.org")
    batch = decode_records(
        {
            ("herald.events", 3): [
                Record(10, 1_746_108_001_500, b"{not json"),
                Record(11, 1_746_108_001_600, encode(good)),
                Record(12, 1_746_108_001_700, b'{"event_id": "evt_1"}'),
                Record(13, 1_746_108_001_800, None),
            ]
        }
    )
    assert list(batch.events) == [good]
    where = [(m.topic, m.partition, m.offset, m.at) for m in batch.malformed]
    assert where == [
        ("herald.events", 3, 10, 1_746_108_001.5),
        ("herald.events", 3, 12, 1_746_108_001.7),
        ("herald.events", 3, 13, 1_746_108_001.8),
    ]
    assert all(m.reason for m in batch.malformed)
    assert "missing required field" in batch.malformed[1].reason
    assert batch.malformed[2].reason == "empty record"


def test_lag_is_what_the_group_has_still_to_read():
    assert PartitionLag("t", 0, committed=90, end=100).lag == 10
    assert PartitionLag("t", 0, committed=None, end=100, begin=40).lag == 60
    assert PartitionLag("t", 0, committed=5, end=100, begin=40).lag == 60  # deleted by retention
    assert PartitionLag("t", 0, committed=100, end=100).lag == 0


def test_partition_lags_cover_every_partition_in_order():
    lags = partition_lags(
        [("b", 1), ("a", 0), ("b", 0)],
        committed={("a", 0): 3, ("b", 0): 7},
        begin={("b", 1): 2},
        end={("a", 0): 3, ("b", 0): 10, ("b", 1): 5},
    )
    assert [(p.topic, p.partition, p.lag) for p in lags] == [("a", 0, 0), ("b", 0, 3), ("b", 1, 3)]


def test_worker_liveness_and_the_deferred_queue_come_from_the_worker_group():
    retry = PartitionLag("herald.sends.retry.0", 0, committed=10, end=14)
    ready = PartitionLag("herald.sends.ready", 0, committed=50, end=51)
    worker = GroupHealth("herald-worker", "Stable", 1, (retry, ready))
    health = Health(reachable=True, checked_at=T0, groups=(worker,))
    assert health.worker is worker and worker.alive
    assert health.deferred == 4
    assert worker.lag == 5
    assert worker.lag_by_topic() == {"herald.sends.retry.0": 4, "herald.sends.ready": 1}
    assert not GroupHealth("herald-worker", "Empty", 0).alive
    assert Health(reachable=True, checked_at=T0).deferred == 0


def test_the_latest_change_of_each_suppression_entry_wins():
    added = SuppressionChange("add", ADA_SUPPRESSION, at=T0 + 1)
    removed = SuppressionChange("remove", ADA_SUPPRESSION, at=T0 + 2)
    other = replace(ADA_SUPPRESSION, id="sup_other", value="@example.com")
    assert current_entries([added]) == (ADA_SUPPRESSION,)
    assert current_entries([added, removed]) == ()
    assert current_entries([removed, added]) == ()  # read out of order: time decides
    readded = SuppressionChange("add", ADA_SUPPRESSION, at=T0 + 3)
    both = current_entries([added, removed, readded, SuppressionChange("add", other, T0)])
    assert {e.id for e in both} == {ADA_SUPPRESSION.id, "sup_other"}
