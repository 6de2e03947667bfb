"""Herald's partitioner puts every key where Kafka's own clients do: otherwise a record from an
internal producer and one from Herald's API would meet different table partitions."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streams.partitioner import kafka_partitioner, partition_of
from streams.topics import recipient_key

# Kafka's own test vectors for Utils.murmur2 (clients/src/test/.../utils/UtilsTest.java).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "java_hash"), JAVA_MURMUR2.items())
def test_the_partition_is_the_java_clients(key: bytes, java_hash: int) -> None:
    for partitions in (1, 3, 7, 12, 100):
        # Java's Utils.toPositive(murmur2(key)) % numPartitions
        assert partition_of(key, partitions) == (java_hash & 0x7FFFFFFF) % partitions


def test_every_key_lands_where_aiokafkas_default_partitioner_puts_it() -> None:
    rng = random.Random(7)
    keys = [rng.randbytes(n) for n in range(80) for _ in range(25)]
    keys += [recipient_key(f"user{i}@example.com") for i in range(500)]
    default = DefaultPartitioner()
    for partitions in (1, 2, 3, 6, 12):
        ids = list(range(partitions))
        assert [kafka_partitioner(k, ids, ids) for k in keys] == [
            default(k, ids, ids) for k in keys
        ]


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    assert {kafka_partitioner(None, [0, 1, 2], [2]) for _ in range(20)} == {2}
    assert {kafka_partitioner(None, [0, 1, 2], []) for _ in range(50)} <= {0, 1, 2}
