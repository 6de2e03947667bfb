"""``/v1/webhooks``: where Herald posts a workspace's events, signed (Standard Webhooks).

Reading (list, get, deliveries) needs a ``read`` key, changing a ``full`` one: the guard's
default rule. A change is answered once Kafka acknowledged it (:mod:`api.webhook_changes`), so
from the 2xx on the workers deliver by it. An endpoint's signing secret is in the answer to
its creation or rotation and nowhere else: the topic and the database hold it sealed, and an
idempotent replay of that answer shows it as null. Another workspace's endpoint answers 404,
like one that never existed; the endpoint is looked up before the body is read.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from api.decoding import decode, only_known
from api.errors import Conflict, ValidationFailed
from api.idempotency import Reply, idempotent_request, run_idempotent
from api.openapi import (
    GUARDED,
    IDEMPOTENCY_KEY,
    body_documented_as,
    optional_body,
    problems,
    returns,
)
from api.producer import SendProducer
from api.schemas import new_id
from api.validation import FieldError
from api.webhook_changes import existing, store
from api.webhook_input import (
    ATTEMPT_ID,
    ENDPOINT_ID,
    EVENT_ID,
    change_at,
    changed,
    deleted,
    new_endpoint,
    replay_ask,
    rotated,
)
from api.webhook_replay import chosen_events, queue, task
from api.webhook_schemas import (
    BODY_EXAMPLE,
    CHANGE_EXAMPLE,
    DELIVERY_LIST_EXAMPLE,
    DELIVERY_PARAMETERS,
    LIST_EXAMPLE,
    LIST_PARAMETERS,
    NEW_EXAMPLE,
    REPLAY_EXAMPLE,
    ROTATED_EXAMPLE,
    VIEW_EXAMPLE,
    NewWebhook,
    WebhookBody,
    WebhookChange,
    WebhookDeliveryList,
    WebhookList,
    WebhookReplay,
    WebhookReplayQueued,
    WebhookRotate,
    WebhookView,
    delivery,
    view,
    with_secret,
)
from config.settings import Settings
from streams.records import AttemptOutcome, WebhookSecret
from streams.webhook_secrets import Sealer, new_secret
from tables import webhooks

Limit = Annotated[int, QueryParameter(ge=1, le=100)]
Cursor = Annotated[str | None, QueryParameter(max_length=64)]
EventId = Annotated[str | None, QueryParameter(max_length=64, description="One event's tries.")]


class WebhooksController(Controller):
    path = "/webhooks"
    tags = ["webhooks"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @post(
        status_code=HTTP_201_CREATED,
        summary="Create a webhook endpoint",
        description="Herald posts the workspace's events to `url` (https; a public address), "
        "those of `event_types`, `tags` and `programs` (each empty: any), up to `batch_size` "
        "per request, signed with the `secret` in this answer: shown once, keep it. Needs a "
        "`full` key.",
        operation_class=body_documented_as(WebhookBody, BODY_EXAMPLE, headers=[IDEMPOTENCY_KEY]),
        responses={
            **returns(NewWebhook, NEW_EXAMPLE, "The endpoint, with its secret.", status=201),
            **problems(400, *GUARDED, 409, 413, 422, 503),
        },
    )
    async def create_webhook(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        producer: NamedDependency[SendProducer],
        settings: NamedDependency[Settings],
        sealer: NamedDependency[Sealer],
    ) -> Response[bytes]:
        body = await request.body()
        idem = idempotent_request(request.scope, workspace_id, body)
        secret, now = new_secret(), time.time()
        made = new_endpoint(
            decode(body, WebhookBody),
            endpoint_id=new_id("wh"),
            workspace_id=workspace_id,
            sealed_secret=sealer.seal(secret),
            allow_loopback=settings.webhook_allow_loopback,
            now=now,
        )
        if isinstance(made, list):
            raise ValidationFailed(made)

        async def execute(plan: bytes, resumed: bool) -> Reply:
            endpoint, shown = made, secret
            if resumed:  # the first run died: the same id, with a secret this client can see
                planned_id = msgspec.json.decode(plan, type=NewWebhook).id
                shown = new_secret()
                endpoint = replace(
                    made,
                    id=planned_id,
                    secrets=(WebhookSecret(sealer.seal(shown)),),
                    changed_at=change_at(
                        await webhooks.get_endpoint(workspace_id, planned_id), now
                    ),
                )
            await store(producer, endpoint)
            return _with_secret(with_secret(endpoint, now, shown), HTTP_201_CREATED)

        planned = Reply(HTTP_201_CREATED, msgspec.json.encode(with_secret(made, now, None)))
        return await run_idempotent(
            idem, planned=planned, execute=execute, ttl=settings.idempotency_ttl
        )

    @get(
        summary="List webhook endpoints",
        description="Newest first, without secrets. Page with `starting_after` (the last id of "
        "the previous page). Needs a `read` key.",
        responses={
            **returns(WebhookList, LIST_EXAMPLE, "Newest first."),
            **problems(*GUARDED, 422),
        },
    )
    async def list_webhooks(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        limit: Limit = 20,
        starting_after: Cursor = None,
    ) -> WebhookList:
        only_known(request.query_params, LIST_PARAMETERS)
        if starting_after is not None and not ENDPOINT_ID.fullmatch(starting_after):
            raise ValidationFailed([FieldError("starting_after", "not an endpoint id (wh_...)")])
        found, more = await webhooks.list_endpoints(
            workspace_id, limit=limit, starting_after=starting_after
        )
        now = time.time()
        return WebhookList(data=[view(e, now) for e in found], has_more=more)

    @get(
        "/{webhook_id:str}",
        summary="Get a webhook endpoint",
        description="One endpoint, without its secrets. Needs a `read` key.",
        responses={
            **returns(WebhookView, VIEW_EXAMPLE, "The endpoint."),
            **problems(*GUARDED, 404),
        },
    )
    async def get_webhook(
        self, workspace_id: NamedDependency[str], webhook_id: FromPath[str]
    ) -> WebhookView:
        return view(await existing(workspace_id, webhook_id), time.time())

    @patch(
        "/{webhook_id:str}",
        summary="Change a webhook endpoint",
        description="Fields left out keep their value. Enabling an endpoint Herald turned off "
        "(it answered 410, or failed for days) clears `disabled_reason`. Needs a `full` key.",
        operation_class=body_documented_as(WebhookChange, CHANGE_EXAMPLE),
        responses={
            **returns(WebhookView, VIEW_EXAMPLE, "The endpoint as changed."),
            **problems(400, *GUARDED, 404, 413, 422, 503),
        },
    )
    async def change_webhook(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        producer: NamedDependency[SendProducer],
        settings: NamedDependency[Settings],
        webhook_id: FromPath[str],
    ) -> WebhookView:
        stored = await existing(workspace_id, webhook_id)
        now = time.time()
        updated = changed(
            stored,
            decode(await request.body(), WebhookChange),
            allow_loopback=settings.webhook_allow_loopback,
            now=now,
        )
        if isinstance(updated, list):
            raise ValidationFailed(updated)
        if updated is not stored:
            await store(producer, updated)
        return view(updated, now)

    @delete(
        "/{webhook_id:str}",
        summary="Delete a webhook endpoint",
        description="Nothing more is delivered to it once this answers 204 (a request already "
        "under way finishes). Deleting again answers 404. Needs a `full` key.",
        responses=problems(*GUARDED, 404, 503),
    )
    async def delete_webhook(
        self,
        workspace_id: NamedDependency[str],
        producer: NamedDependency[SendProducer],
        webhook_id: FromPath[str],
    ) -> None:
        stored = await existing(workspace_id, webhook_id)
        await store(producer, deleted(stored, time.time()))

    @post(
        "/{webhook_id:str}/rotate",
        status_code=HTTP_200_OK,
        summary="Rotate a webhook endpoint's secret",
        description="Makes a new secret (in this answer, shown once). Deliveries carry a "
        "signature by each active secret, so the current one keeps working for "
        "`overlap_seconds` (default 24 h; 0: stops now) while receivers switch. Needs a `full` "
        "key.",
        operation_class=optional_body(headers=[IDEMPOTENCY_KEY]),
        responses={
            **returns(NewWebhook, ROTATED_EXAMPLE, "The endpoint, with its new secret."),
            **problems(*GUARDED, 404, 409, 413, 422, 503),
        },
    )
    async def rotate_secret(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        producer: NamedDependency[SendProducer],
        settings: NamedDependency[Settings],
        sealer: NamedDependency[Sealer],
        webhook_id: FromPath[str],
        data: JSONBody[WebhookRotate | None] = None,
    ) -> Response[bytes]:
        stored = await existing(workspace_id, webhook_id)
        asked = data.overlap_seconds if data is not None else None
        overlap = settings.webhook_secret_overlap if asked is None else float(asked)
        idem = idempotent_request(request.scope, workspace_id, await request.body())

        async def execute(_: bytes, __: bool) -> Reply:
            secret, now = new_secret(), time.time()
            endpoint = rotated(stored, sealer.seal(secret), overlap=overlap, now=now)
            await store(producer, endpoint)
            return _with_secret(with_secret(endpoint, now, secret), HTTP_200_OK)

        # Nothing is planned ahead: a rotation taken over after a crash rotates again.
        return await run_idempotent(
            idem, planned=Reply(HTTP_200_OK, b"{}"), execute=execute, ttl=settings.idempotency_ttl
        )

    @get(
        "/{webhook_id:str}/deliveries",
        summary="List a webhook endpoint's delivery attempts",
        description="Every HTTP attempt, newest first: what the endpoint answered, how long "
        "it took, and when the next try is due. `outcome=dead` lists the endpoint's dead "
        "letter: events whose last try failed (replay them). `event_id` keeps one event's "
        "attempts. Page with `starting_after` (the last id of the previous page). Needs a "
        "`read` key.",
        responses={
            **returns(WebhookDeliveryList, DELIVERY_LIST_EXAMPLE, "Newest first."),
            **problems(*GUARDED, 404, 422),
        },
    )
    async def list_deliveries(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        webhook_id: FromPath[str],
        outcome: FromQuery[AttemptOutcome | None] = None,
        event_id: EventId = None,
        limit: Limit = 20,
        starting_after: Cursor = None,
    ) -> WebhookDeliveryList:
        endpoint = await existing(workspace_id, webhook_id)
        only_known(request.query_params, DELIVERY_PARAMETERS)
        errors = []
        if event_id is not None and not EVENT_ID.fullmatch(event_id):
            errors.append(FieldError("event_id", "not an event id (evt_...)"))
        if starting_after is not None and not ATTEMPT_ID.fullmatch(starting_after):
            errors.append(FieldError("starting_after", "not a delivery attempt id"))
        if errors:
            raise ValidationFailed(errors)
        found, more = await webhooks.list_attempts(
            workspace_id,
            endpoint.id,
            outcome=outcome,
            event_id=event_id,
            limit=limit,
            starting_after=starting_after,
        )
        return WebhookDeliveryList(data=[delivery(a) for a in found], has_more=more)

    @post(
        "/{webhook_id:str}/replay",
        status_code=HTTP_202_ACCEPTED,
        summary="Deliver events to a webhook endpoint again",
        description="One event by `event_id` (whatever the endpoint's filters), or every "
        "event from `since` (inclusive) to `until` (exclusive, at most 31 days later) that "
        "the endpoint wants, at most 10,000. Each is delivered again, marked as a replay, with "
        "the body of its first delivery. The endpoint must be enabled. Needs a `full` key.",
        operation_class=body_documented_as(
            WebhookReplay, REPLAY_EXAMPLE, headers=[IDEMPOTENCY_KEY]
        ),
        responses={
            **returns(
                WebhookReplayQueued, WebhookReplayQueued(3), "Queued for delivery.", status=202
            ),
            **problems(400, *GUARDED, 404, 409, 413, 422, 503),
        },
    )
    async def replay_events(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        producer: NamedDependency[SendProducer],
        settings: NamedDependency[Settings],
        webhook_id: FromPath[str],
    ) -> Response[bytes]:
        endpoint = await existing(workspace_id, webhook_id)
        body = await request.body()
        ask = replay_ask(decode(body, WebhookReplay))
        if isinstance(ask, list):
            raise ValidationFailed(ask)
        if not endpoint.enabled:
            raise Conflict(
                f"Webhook endpoint {endpoint.id} is disabled: enable it first.",
                kind="webhook-disabled",
            )
        idem = idempotent_request(request.scope, workspace_id, body)

        async def execute(_: bytes, __: bool) -> Reply:
            tasks = [task(endpoint, data) for data in await chosen_events(endpoint, ask)]
            await queue(producer, tasks)
            return Reply(HTTP_202_ACCEPTED, msgspec.json.encode(WebhookReplayQueued(len(tasks))))

        return await run_idempotent(
            idem,
            planned=Reply(HTTP_202_ACCEPTED, b"{}"),
            execute=execute,
            ttl=settings.idempotency_ttl,
        )


def _with_secret(answer: NewWebhook, status: int) -> Reply:
    """The answer with the secret for the client, and without it for the idempotency store:
    no plaintext secret is ever written to the database."""
    redacted = msgspec.structs.replace(answer, secret=None)
    return Reply(status, msgspec.json.encode(answer), stored_body=msgspec.json.encode(redacted))
