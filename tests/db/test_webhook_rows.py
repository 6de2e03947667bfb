"""Webhook endpoint and attempt rows: both writers (the API and the worker's projection) may
apply any record any number of times, in any order, and the rows still say what the latest
change was; an attempt reported twice is one row."""

from __future__ import annotations

from dataclasses import replace

from config.settings import Settings
from streams.records import WebhookAttempt, WebhookEndpoint, WebhookSecret
from tables import webhooks
from tables.db import WebhookAttempt as AttemptRow
from tables.db import WebhookEndpoint as Row

WS = "ws_acme"
T0 = 1_760_000_000.0


def endpoint(n: int, *, workspace_id: str = WS, at: float = T0) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=f"wh_{n:026d}",
        workspace_id=workspace_id,
        url=f"https://hooks{n}.example.com/herald",
        secrets=(WebhookSecret("sealed-new"), WebhookSecret("sealed-old", expires_at=T0 + 60)),
        created_at=at,
        changed_at=at,
        event_types=("delivered", "bounced"),
        tags=("welcome",),
        programs=("newsletter",),
        description="CRM sync",
        batch_size=10,
    )


def attempt(
    n: int, *, outcome: str = "failed", at: float | None = None, events: tuple[str, ...] = ()
) -> WebhookAttempt:
    return WebhookAttempt(
        endpoint_id=endpoint(1).id,
        workspace_id=WS,
        event_ids=events or (f"evt_{n:026d}",),
        attempt=1,
        at=T0 + n if at is None else at,
        outcome=outcome,  # type: ignore[arg-type]
        status=503 if outcome != "succeeded" else 200,
        latency_ms=12.5,
        response="busy",
        next_attempt_at=T0 + n + 300 if outcome == "failed" else None,
    )


async def listed(workspace_id: str = WS, **kwargs: object) -> list[str]:
    found, _ = await webhooks.list_endpoints(workspace_id, limit=100, **kwargs)  # type: ignore[arg-type]
    return [e.id for e in found]


async def test_an_endpoint_reads_back_as_it_was_written(db: Settings) -> None:
    made = endpoint(1)
    await webhooks.apply_endpoints([made])

    assert await webhooks.get_endpoint(WS, made.id) == made
    assert await webhooks.get_endpoint("ws_other", made.id) is None
    assert await listed() == [made.id]
    assert await listed("ws_other") == []


async def test_the_newest_record_wins_in_any_order_and_any_repeats(db: Settings) -> None:
    first = endpoint(1)
    renamed = replace(first, url="https://new.example.com/", changed_at=T0 + 1)
    disabled = replace(renamed, enabled=False, disabled_reason="gone", changed_at=T0 + 2)

    await webhooks.apply_endpoints([disabled, first])
    await webhooks.apply_endpoints([renamed, renamed, first])  # older: changes nothing
    await webhooks.apply_endpoints([disabled, renamed, disabled])  # repeats in one batch

    assert await webhooks.get_endpoint(WS, first.id) == disabled


async def test_a_deleted_endpoint_stays_deleted(db: Settings) -> None:
    made = endpoint(1)
    gone = replace(made, deleted=True, secrets=(), changed_at=T0 + 1)
    late_disable = replace(made, enabled=False, disabled_reason="failing", changed_at=T0 + 2)

    await webhooks.apply_endpoints([made, gone])
    await webhooks.apply_endpoints([late_disable])

    assert await webhooks.get_endpoint(WS, made.id) is None
    assert await listed() == []
    assert await Row.count() == 1


async def test_a_record_of_another_workspace_does_not_take_an_endpoint(db: Settings) -> None:
    made = endpoint(1)
    await webhooks.apply_endpoints([made])
    await webhooks.apply_endpoints([replace(made, workspace_id="ws_other", changed_at=T0 + 9)])

    assert await webhooks.get_endpoint(WS, made.id) == made
    assert await webhooks.get_endpoint("ws_other", made.id) is None


async def test_endpoints_list_newest_first_in_pages(db: Settings) -> None:
    made = [endpoint(n, at=T0 + n) for n in range(5)]
    await webhooks.apply_endpoints(made)
    await webhooks.apply_endpoints([endpoint(9, workspace_id="ws_other")])

    first, more = await webhooks.list_endpoints(WS, limit=2)
    second, more_after = await webhooks.list_endpoints(WS, limit=2, starting_after=first[-1].id)
    rest, last_more = await webhooks.list_endpoints(WS, limit=2, starting_after=second[-1].id)

    assert [e.id for e in first + second + rest] == [e.id for e in reversed(made)]
    assert (more, more_after, last_more) == (True, True, False)
    assert await webhooks.list_endpoints(WS, limit=2, starting_after="wh_nope") == ([], False)


async def test_an_attempt_reported_twice_is_one_row(db: Settings) -> None:
    one = attempt(1, events=("evt_b", "evt_a"))
    same_events_other_order = replace(one, event_ids=("evt_a", "evt_b"))
    retry = replace(one, attempt=2, at=T0 + 400)

    await webhooks.record_attempts([one, same_events_other_order, retry])
    await webhooks.record_attempts([one, retry])

    assert await AttemptRow.count() == 2
    found, more = await webhooks.list_attempts(WS, one.endpoint_id, limit=10)
    assert found == [retry, one] and not more
    assert webhooks.attempt_id(one) == webhooks.attempt_id(same_events_other_order)


async def test_attempts_list_newest_first_by_outcome_and_event(db: Settings) -> None:
    made = [attempt(n, outcome="dead" if n % 2 else "succeeded") for n in range(6)]
    await webhooks.record_attempts(made)
    await webhooks.record_attempts([replace(attempt(9), endpoint_id="wh_other")])

    page, more = await webhooks.list_attempts(WS, made[0].endpoint_id, limit=4)
    rest, rest_more = await webhooks.list_attempts(
        WS, made[0].endpoint_id, limit=4, starting_after=webhooks.attempt_id(page[-1])
    )
    dead, _ = await webhooks.list_attempts(WS, made[0].endpoint_id, outcome="dead", limit=10)
    one, _ = await webhooks.list_attempts(
        WS, made[0].endpoint_id, event_id="evt_00000000000000000000000003", limit=10
    )
    # "_" in an id is no wildcard: a similar id does not match.
    similar, _ = await webhooks.list_attempts(
        WS, made[0].endpoint_id, event_id="evtX00000000000000000000000003", limit=10
    )

    assert page + rest == list(reversed(made)) and more and not rest_more
    assert dead == [made[5], made[3], made[1]]
    assert one == [made[3]]
    assert similar == []
    assert await webhooks.list_attempts("ws_other", made[0].endpoint_id, limit=10) == ([], False)


async def test_attempts_at_one_instant_page_by_id(db: Settings) -> None:
    made = [attempt(n, at=T0) for n in range(5)]
    await webhooks.record_attempts(made)

    seen: list[WebhookAttempt] = []
    cursor = None
    while True:
        page, more = await webhooks.list_attempts(
            WS, made[0].endpoint_id, limit=2, starting_after=cursor
        )
        seen += page
        if not more:
            break
        cursor = webhooks.attempt_id(page[-1])

    assert sorted(map(webhooks.attempt_id, seen)) == sorted(map(webhooks.attempt_id, made))
    assert len(seen) == 5
