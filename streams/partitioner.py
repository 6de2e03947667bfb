"""Which partition a keyed record goes to: Kafka's default partitioner, so a key lands where
any Kafka client (a Java producer of an internal system, Faust's own tables) puts it.

That is murmur2 of the key bytes with seed ``0x9747b28c``, made positive, modulo the topic's
partition count. aiokafka's ``DefaultPartitioner`` computes the same hash in pure Python
(about 6 us per key: 2-4% of the API's and the worker's time, BENCHMARKS.md); murmurhash2's
C function takes 0.25 us. ``tests/unit/test_partitioner.py`` holds the two to the same
answers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from murmurhash2 import murmurhash2

_SEED = 0x9747B28C  # Kafka's (org.apache.kafka.common.utils.Utils.murmur2)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition of ``key`` in a topic of ``partitions`` partitions."""
    return (murmurhash2(key, _SEED) & 0x7FFFFFFF) % partitions


def kafka_partitioner(
    key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """An aiokafka ``partitioner`` (also Faust's ``producer_partitioner``), answering as
    aiokafka's ``DefaultPartitioner`` does: a record without a key goes to any partition."""
    if key is None:
        return random.choice(available or all_partitions)  # noqa: S311  # spreading, not secrets
    return all_partitions[partition_of(key, len(all_partitions))]
