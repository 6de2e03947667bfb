"""``/v1/suppressions``: the addresses and domains a workspace must not send to.

Reading (list, get, check) needs a ``read`` key, changing (add, remove, bulk) a ``full`` one:
the guard's default rule. A change is answered only once Kafka acknowledged it
(:mod:`api.suppression_changes`), so from the 2xx on the pipeline enforces it. An entry's id
is derived from what it names (workspace, scope, program or list, address or domain), so
adding twice is one entry: the second answer is 200 with the entry as it was. Removing
answers 204, then 404 (the entry is gone, like one that never existed, or another
workspace's). Unknown query parameters are refused (422): a misspelt filter must not silently
list everything.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api import suppression_bulk
from api.decoding import decode, only_known
from api.errors import ValidationFailed, request_id_of
from api.idempotency import Reply, idempotent_request, run_idempotent
from api.openapi import GUARDED, IDEMPOTENCY_KEY, body_documented_as, problems, returns
from api.producer import SendProducer
from api.suppression_changes import add_change, apply_one, remove_change, stored_entry
from api.suppression_input import ListQuery, check_query, check_target, list_filters, new_entry
from api.suppression_schemas import (
    BODY_EXAMPLE,
    BULK_EXAMPLE,
    BULK_RESULT_EXAMPLE,
    CHECK_EXAMPLE,
    CHECK_PARAMETERS,
    LIST_EXAMPLE,
    LIST_PARAMETERS,
    VIEW_EXAMPLE,
    AnyEmail,
    Domain,
    Email,
    ListId,
    Program,
    ScopeName,
    SuppressionBody,
    SuppressionBulk,
    SuppressionBulkResult,
    SuppressionCheck,
    SuppressionList,
    SuppressionView,
    view,
)
from config.settings import Settings
from streams.records import Reason
from streams.suppressions import first_match
from tables import suppressions


class SuppressionsController(Controller):
    path = "/suppressions"
    tags = ["suppressions"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @post(
        status_code=HTTP_201_CREATED,
        summary="Add a suppression",
        description="Stops sends to an address (`email`) or a whole domain (`domain`): in every "
        "program (scope `global`, the default), in one `program`, or to one `list`. Answered once "
        "the pipeline has it: from then on no new send to it goes out. Adding an entry that "
        "exists changes nothing and answers 200 with it. Needs a `full` key.",
        operation_class=body_documented_as(
            SuppressionBody, BODY_EXAMPLE, headers=[IDEMPOTENCY_KEY]
        ),
        responses={
            **returns(SuppressionView, VIEW_EXAMPLE, "The entry, added.", status=201),
            **returns(SuppressionView, VIEW_EXAMPLE, "The entry, which existed already."),
            **problems(400, *GUARDED, 409, 413, 422, 503),
        },
    )
    async def add_suppression(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        producer: NamedDependency[SendProducer],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        body = await request.body()
        idem = idempotent_request(request.scope, workspace_id, body)
        asked = decode(body, SuppressionBody)
        target = check_target(asked)
        if isinstance(target, list):
            raise ValidationFailed(target)
        entry = new_entry(
            workspace_id, target, reason=asked.reason, note=asked.note, now=time.time()
        )

        async def execute(_: bytes, __: bool) -> Reply:
            stored = await suppressions.stored_entries(workspace_id, [entry.id])
            change, new = add_change(entry, stored.get(entry.id), time.time())
            await apply_one(producer, change)
            status = HTTP_201_CREATED if new else HTTP_200_OK
            return Reply(status, msgspec.json.encode(view(change.entry)))

        planned = Reply(HTTP_201_CREATED, msgspec.json.encode(view(entry)))
        return await run_idempotent(
            idem, planned=planned, execute=execute, ttl=settings.idempotency_ttl
        )

    @post(
        "/bulk",
        status_code=HTTP_200_OK,
        summary="Add and remove suppressions in bulk",
        description="Up to 1000 items in `add` (bodies like POST /v1/suppressions) and "
        "`remove` (entry ids, or bodies naming entries) together, each judged alone: one "
        "result per item, in order, with the status the single route would have answered. "
        "Two items may not name the same entry. Needs a `full` key.",
        operation_class=body_documented_as(
            SuppressionBulk, BULK_EXAMPLE, headers=[IDEMPOTENCY_KEY]
        ),
        responses={
            **returns(SuppressionBulkResult, BULK_RESULT_EXAMPLE, "One result per item."),
            **problems(400, *GUARDED, 409, 413, 422),
        },
    )
    async def bulk(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        producer: NamedDependency[SendProducer],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        body = await request.body()
        idem = idempotent_request(request.scope, workspace_id, body)
        judged = suppression_bulk.judge(workspace_id, decode(body, SuppressionBulk), time.time())
        request_id = request_id_of(request.scope).value

        async def execute(_: bytes, __: bool) -> Reply:
            answer, accepted = await suppression_bulk.run(
                producer, workspace_id, judged, request_id=request_id
            )
            return Reply(HTTP_200_OK, msgspec.json.encode(answer), keep=accepted)

        # Ids are derived from the entries, so a taken-over claim simply runs again.
        return await run_idempotent(
            idem, planned=Reply(HTTP_200_OK, b"{}"), execute=execute, ttl=settings.idempotency_ttl
        )

    @get(
        summary="List suppressions",
        description="Live entries, newest first; every filter given must hold. `program` and "
        "`list` imply their scope. `created_after` is inclusive, `created_before` exclusive; "
        "times without a zone are UTC. Page with `starting_after` (the last id of the "
        "previous page). Needs a `read` key.",
        responses={
            **returns(SuppressionList, LIST_EXAMPLE, "Newest first."),
            **problems(*GUARDED, 422),
        },
    )
    async def list_suppressions(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        email: AnyEmail = None,
        domain: Domain = None,
        scope_name: ScopeName = None,
        program: Program = None,
        list_id: ListId = None,
        reason: FromQuery[Reason | None] = None,
        created_after: FromQuery[datetime | None] = None,
        created_before: FromQuery[datetime | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> SuppressionList:
        only_known(request.query_params, LIST_PARAMETERS)
        filters = list_filters(
            ListQuery(
                email=email,
                domain=domain,
                scope=scope_name,
                program=program,
                list_id=list_id,
                reason=reason,
                created_after=created_after,
                created_before=created_before,
                starting_after=starting_after,
            )
        )
        if isinstance(filters, list):
            raise ValidationFailed(filters)
        found, more = await suppressions.list_entries(
            workspace_id, filters, limit=limit, starting_after=starting_after
        )
        return SuppressionList(data=[view(e) for e in found], has_more=more)

    @get(
        "/check",
        summary="Check an address",
        description="Whether a send to `email` of `program` (default `transactional`), to "
        "`list` if given, would be dropped now, and by which entry: the same rule the pipeline "
        "applies (global entries first, then list, then program; the address before its "
        "domain). `entries` lists every live entry of the address and its domain. Needs a "
        "`read` key.",
        responses={
            **returns(SuppressionCheck, CHECK_EXAMPLE, "The verdict and the entries."),
            **problems(*GUARDED, 422),
        },
    )
    async def check_suppression(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        email: Email,
        program: Program = None,
        list_id: ListId = None,
    ) -> SuppressionCheck:
        only_known(request.query_params, CHECK_PARAMETERS)
        checked = check_query(email, program, list_id)
        if isinstance(checked, list):
            raise ValidationFailed(checked)
        value, program = checked
        entries = await suppressions.entries_for(workspace_id, value)
        match = first_match(entries, program=program, list_id=list_id)
        return SuppressionCheck(
            suppressed=match is not None,
            email=value,
            program=program,
            list_id=list_id,
            entry=None if match is None else view(match),
            entries=[view(e) for e in entries],
        )

    @get(
        "/{suppression_id:str}",
        summary="Get a suppression",
        description="One live entry. Needs a `read` key.",
        responses={
            **returns(SuppressionView, VIEW_EXAMPLE, "The entry."),
            **problems(*GUARDED, 404),
        },
    )
    async def get_suppression(
        self, workspace_id: NamedDependency[str], suppression_id: FromPath[str]
    ) -> SuppressionView:
        return view((await stored_entry(workspace_id, suppression_id)).entry)

    @delete(
        "/{suppression_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a suppression",
        description="Sends to the address or domain are allowed again (unless another entry "
        "stops them) once this answers 204. Removing again answers 404. Needs a `full` key.",
        responses=problems(*GUARDED, 404, 503),
    )
    async def remove_suppression(
        self,
        workspace_id: NamedDependency[str],
        producer: NamedDependency[SendProducer],
        suppression_id: FromPath[str],
    ) -> None:
        stored = await stored_entry(workspace_id, suppression_id)
        await apply_one(producer, remove_change(stored, time.time()))
