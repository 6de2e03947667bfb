"""The fan-out: which endpoints get a task for an event, and what the task carries."""

from __future__ import annotations

from agents.webhook_directory import EndpointDirectory
from agents.webhook_fanout import tasks_for
from streams.public import event_data
from streams.records import Event, WebhookEndpoint, WebhookSecret


def endpoint(id_: str, workspace: str = "ws_1", **fields: object) -> WebhookEndpoint:
    base: dict[str, object] = {
        "id": id_,
        "workspace_id": workspace,
        "url": "https://hooks.example/in",
        "secrets": (WebhookSecret("sealed"),),
        "created_at": 1.0,
        "changed_at": 1.0,
    }
    return WebhookEndpoint(**{**base, **fields})  # type: ignore[arg-type]


def event(type_: str = "sent", **fields: object) -> Event:
    base: dict[str, object] = {
        "event_id": "evt_1",
        "type": type_,
        "message_id": "msg_1",
        "workspace_id": "ws_1",
        "recipient": "ada@example.com",
        "at": 1_700_000_000.0,
        "tags": ("invoice",),
        "program": "billing",
        "seq": 2,
    }
    return Event(**{**base, **fields})  # type: ignore[arg-type]


def directory(*endpoints: WebhookEndpoint) -> EndpointDirectory:
    d = EndpointDirectory("unused:9092")
    for e in endpoints:
        d.apply(e)
    return d


def test_every_matching_live_endpoint_of_the_workspace_gets_the_event() -> None:
    d = directory(
        endpoint("all"),
        endpoint("sent_only", event_types=("sent",)),
        endpoint("bounces_only", event_types=("bounced",)),
        endpoint("tagged", tags=("invoice", "receipt")),
        endpoint("other_tag", tags=("news",)),
        endpoint("billing", programs=("billing",)),
        endpoint("news", programs=("news",)),
        endpoint("off", enabled=False),
        endpoint("deleted", deleted=True),
        endpoint("elsewhere", workspace="ws_2"),
    )
    tasks = tasks_for(event(), d)
    assert sorted(t.endpoint_id for t in tasks) == ["all", "billing", "sent_only", "tagged"]
    assert all(t.data == event_data(event()) for t in tasks)
    assert {(t.event_id, t.event_type, t.at) for t in tasks} == {("evt_1", "sent", 1_700_000_000.0)}


def test_the_newest_configuration_of_an_endpoint_holds_whatever_order_it_is_read() -> None:
    newer = endpoint("a", changed_at=5.0, enabled=False)
    older = endpoint("a", changed_at=4.0)
    d = directory(newer, older)
    assert d.get("a") == newer
    assert tasks_for(event(), d) == []
