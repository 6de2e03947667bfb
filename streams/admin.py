"""Creating Herald's topics on the cluster, idempotently (every entry point may call it)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaError,
    TopicAlreadyExistsError,
    for_code,
)

from config.errors import TopicsNotCreated
from config.settings import Settings
from streams.topics import TopicSpec


def new_topic(spec: TopicSpec, settings: Settings) -> NewTopic:
    configs = {"cleanup.policy": "compact"} if spec.compacted else {}
    return NewTopic(
        spec.name,
        num_partitions=settings.topic_partitions,
        replication_factor=settings.replication_factor,
        topic_configs=configs,
    )


async def ensure_topics(settings: Settings, specs: list[TopicSpec]) -> None:
    """Create whichever of ``specs`` the cluster lacks. Existing topics are left as they are:
    their partition count is never changed (that would move keys to other partitions)."""
    if not specs:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [new_topic(s, settings) for s in specs if s.name not in existing]
        if not missing:
            return
        response = await admin.create_topics(missing)
    except KafkaError as exc:
        raise TopicsNotCreated(
            f"Could not create Herald's topics on {settings.bootstrap}: {exc}"
        ) from exc
    finally:
        await admin.close()
    # aiokafka returns per-topic error codes rather than raising. "Already exists" is a race
    # with another process creating the same topics, which is what we wanted anyway.
    for name, code, message in _topic_errors(response):
        error = for_code(code)
        if code and error is not TopicAlreadyExistsError:
            raise TopicsNotCreated(
                f"Could not create topic {name} on {settings.bootstrap}: "
                f"{error.__name__}: {message or error.description}"
            )


def _topic_errors(response: object) -> list[tuple[str, int, str | None]]:
    errors: list[tuple[str, int, str | None]] = []
    for entry in getattr(response, "topic_errors", []):
        # CreateTopicsResponse v0 has (topic, code); v1 and later add the message.
        name, code, *rest = entry
        errors.append((str(name), int(code), rest[0] if rest else None))
    return errors
