"""The worker's Faust app: topics, tables and agents, wired from the settings.

``build_worker(settings)`` is the only place that knows every agent; each agent module exposes
``register(worker)`` and owns one concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from mode.utils.objects import cached_property

from agents import (
    autosuppress,
    dispatch,
    expand,
    project,
    retry,
    suppressions,
    timeline,
    webhook_delivery,
    webhook_fanout,
    webhook_project,
)
from agents.mailer import Mailer
from agents.transport import FlowControl, HeraldTable, RawSchema, Transport
from agents.webhook_directory import EndpointDirectory
from agents.webhook_http import WebhookClient
from agents.webhook_lanes import Deliveries
from config.secrets import signing_key
from config.settings import Settings
from streams import topics
from streams.partitioner import kafka_partitioner
from streams.records import WebhookAttempt, encode
from streams.webhook_secrets import Sealer
from tables.hot import HotTables, declare_tables


class HeraldFaust(faust.App):
    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> Any:
        return Transport(self.conf.broker_producer, self)

    @cached_property
    def flow_control(self) -> FlowControl:
        return FlowControl(loop=self.loop)

    def on_init_dependencies(self) -> Any:
        # Faust's Monitor keeps per-event statistics for its web pages, which the worker does
        # not serve: unsubscribed, it costs nothing per record (about 3% of the worker).
        services = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        return services


@dataclass(frozen=True)
class Worker:
    """Everything an agent module needs to register itself."""

    settings: Settings
    app: Any  # HeraldFaust (Faust ships no type information)
    tables: HotTables
    requested: Any
    by_recipient: Any
    outcomes: Any
    events: Any
    suppressions: Any
    webhooks: Any
    webhook_tasks: Any
    webhook_attempts: Any
    webhook_inbox: Any  # tasks and attempts together: the delivery agent reads both
    dead_letters: Any
    retries: tuple[Any, ...]

    async def send(self, topic: Any, key: bytes, value: bytes) -> None:
        """Produce a record on one of the topics above: queued at once, acknowledged by the
        time the offsets of the records being handled are committed."""
        await self.app.producer.enqueue(topic.get_topic_name(), key, value)


def build_worker(settings: Settings, mailer: Mailer) -> Worker:
    app = HeraldFaust(
        topics.WORKER_GROUP,
        broker=f"kafka://{settings.bootstrap}",
        store="rocksdb://",
        datadir=str(settings.effective_worker_dir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=0 if settings.replication_factor == 1 else 1,
        processing_guarantee="at_least_once",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",  # a new group must not skip accepted mail
        broker_commit_interval=1.0,
        # A worker that died holds its partitions until its session expires: 10 s, not
        # Faust's 60. Heartbeats come from the consumer's own thread, so a busy agent loop
        # cannot make the session lapse.
        broker_session_timeout=10.0,
        # Retry agents sleep until their head record is due: a rebalance must not wait for them.
        stream_wait_empty=False,
        web_enabled=False,
        Table=HeraldTable,
        # Records wait up to 20 ms to share a produce request. Each request costs aiokafka's
        # sender and the broker CPU, which is what bounds the mail a two-core machine sends:
        # 12-50% more than with 5 ms in five of six paired runs (BENCHMARKS.md, tenth push).
        # Nothing waits that long for them: the flushes before SMTP and before each commit
        # send at once (agents.transport).
        producer_linger=0.02,
        producer_partitioner=kafka_partitioner,  # Kafka's own, hashed in C (streams.partitioner)
    )

    def topic(*specs: topics.TopicSpec) -> Any:
        return app.topic(
            *(spec.name for spec in specs),
            schema=RawSchema(
                key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
            ),
            partitions=settings.topic_partitions,
            compacting=all(spec.compacted for spec in specs) or None,
        )

    worker = Worker(
        settings=settings,
        app=app,
        tables=declare_tables(app, settings),
        requested=topic(topics.SENDS_REQUESTED),
        by_recipient=topic(topics.SENDS_BY_RECIPIENT),
        outcomes=topic(topics.OUTCOMES),
        events=topic(topics.EVENTS),
        suppressions=topic(topics.SUPPRESSIONS),
        webhooks=topic(topics.WEBHOOKS),
        webhook_tasks=topic(topics.WEBHOOK_TASKS),
        webhook_attempts=topic(topics.WEBHOOK_ATTEMPTS),
        webhook_inbox=topic(topics.WEBHOOK_TASKS, topics.WEBHOOK_ATTEMPTS),
        dead_letters=topic(topics.DEAD_LETTERS),
        retries=tuple(topic(topics.retry_topic(i)) for i in range(len(settings.retry_schedule))),
    )
    expand.register(worker)
    dispatch.register(worker, mailer)
    retry.register(worker)
    timeline.register(worker)
    project.register(worker)
    suppressions.register(worker)
    autosuppress.register(worker)
    _register_webhooks(worker)
    return worker


def _register_webhooks(worker: Worker) -> None:
    settings = worker.settings
    directory = EndpointDirectory(settings.bootstrap)

    async def report(attempt: WebhookAttempt) -> None:
        await worker.send(worker.webhook_attempts, attempt.endpoint_id.encode(), encode(attempt))

    lanes = Deliveries(
        directory=directory,
        client=WebhookClient(
            allow_loopback=settings.webhook_allow_loopback, timeout=settings.webhook_timeout
        ),
        sealer=Sealer(signing_key(settings)),
        schedule=settings.webhook_retry_schedule,
        report=report,
    )
    worker.app.task(directory.run)
    webhook_fanout.register(worker, directory)
    webhook_delivery.register(worker, directory, lanes)
    webhook_project.register(worker)
