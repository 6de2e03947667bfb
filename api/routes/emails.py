"""``POST /v1/emails`` and ``POST /v1/emails/batch``: accept send requests, put them on Kafka.

202 means the broker acknowledged the ``SendRequested`` record; from there delivery is the
workers' job. Any 4xx means nothing was produced. Both routes take an ``Idempotency-Key``
(:mod:`api.idempotency`): the body is validated first, then the key is claimed with the
planned answer (request and message ids), then the records are produced. Taking over an
abandoned claim produces again under the stored ids, never new ones.

A batch is a JSON array of 1 to :data:`MAX_BATCH` send objects. Each is decoded and validated
on its own; the valid ones are produced concurrently. The answer is 200 with one result per
email in request order, each with the status ``POST /v1/emails`` would have answered for that
email alone (202 with ids, or an error with its problem body). A batch keeps its idempotent
answer only when at least one email was accepted; otherwise (every email invalid, or Kafka
refused them all) the key stays free and the same request may simply be retried. A batch
answered with some 503s replays them too: resend those emails in a new batch, with a new key.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import SkipValidation
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED
from litestar.types import HTTPScope

from api.auth import Caller, caller_of
from api.errors import (
    UNKNOWN_FIELD,
    ApiError,
    MalformedBody,
    ValidationFailed,
    problem_of,
    request_id_of,
)
from api.idempotency import Reply, idempotent_request, response, run_idempotent, settle
from api.openapi import GUARDED, IDEMPOTENCY_KEY, body_documented_as, problems, returns
from api.producer import SendProducer
from api.schemas import (
    AcceptedMessage,
    BatchAccepted,
    BatchItemResult,
    SendAccepted,
    SendEmail,
    new_id,
    new_ids,
)
from api.validation import FieldError, ValidSend, validate_send
from config.settings import Settings
from streams.records import Content, Recipient, RecipientKind, SendLimit, SendRequested
from tables.plans import Tracking

log = logging.getLogger("herald.api")

MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Intake:
    """What the send routes take from the process, as their one dependency: Litestar resolves
    two or more dependencies of a route in a task group, which cost as much as the rest of a
    send; the caller comes straight from the guard (:func:`api.auth.caller_of`)."""

    producer: SendProducer
    settings: Settings


IntakeDep = NamedDependency[SkipValidation[Intake]]

_DECODER = msgspec.json.Decoder(SendEmail)
_BATCH_DECODER = msgspec.json.Decoder(list[msgspec.Raw])
_ERROR_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def decode_send(body: bytes | msgspec.Raw) -> SendEmail:
    """The body as a :class:`SendEmail`; a problem naming the field when its shape is wrong."""
    try:
        return _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise _shape_error(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"The body is not valid JSON: {exc}") from exc


def _shape_error(text: str) -> MalformedBody | ValidationFailed:
    """msgspec's ``Expected `str`, got `int` - at `$.to[0]``` as a field error on ``to[0]``."""
    match = _ERROR_AT.match(text)
    message = match.group("message") if match else text
    path = (match.group("path") or "") if match else ""
    field = path.removeprefix(".")
    if unknown := UNKNOWN_FIELD.match(message):
        name = unknown.group("name")
        field = f"{field}.{name}" if field else name
        message = "unknown field"
    if not field:
        return MalformedBody(f"The body must be a JSON object: {message}")
    return ValidationFailed([FieldError(field, message)])


def decode_batch(body: bytes) -> list[msgspec.Raw]:
    """The batch's emails, still undecoded; 400 unless a JSON array, 422 unless 1 to 1000."""
    try:
        items = _BATCH_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise MalformedBody(f"The body must be a JSON array of emails: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"The body is not valid JSON: {exc}") from exc
    if not 1 <= len(items) <= MAX_BATCH:
        message = f"must hold 1 to {MAX_BATCH} emails, not {len(items)}"
        raise ValidationFailed([FieldError("body", message)])
    return items


def check_email(raw: msgspec.Raw, *, max_recipients: int) -> ValidSend | ApiError:
    """One email of a batch: valid, or the error ``POST /v1/emails`` would have raised."""
    try:
        checked = validate_send(decode_send(raw), max_recipients=max_recipients)
    except ApiError as exc:
        return exc
    return ValidationFailed(checked) if isinstance(checked, list) else checked


def build_record(
    send: ValidSend,
    *,
    request_id: str,
    workspace_id: str,
    accepted_at: float,
    limit: SendLimit | None = None,
    message_ids: Sequence[str] | None = None,
    tracking: Tracking | None = None,
) -> SendRequested:
    """The record for an accepted send: one message id per recipient, in to, cc, bcc order.

    ``message_ids`` are given when a send is carried out again under the ids it was first
    given (an abandoned idempotent claim); otherwise new ones are made. ``tracking``: the
    workspace's defaults for a send that does not say whether to track opens and clicks
    (None: off)."""
    defaults = tracking or Tracking()
    kinds: list[tuple[str, RecipientKind]] = [
        *((a, "to") for a in send.to),
        *((a, "cc") for a in send.cc),
        *((a, "bcc") for a in send.bcc),
    ]
    ids = new_ids("msg", len(kinds)) if message_ids is None else list(message_ids)
    return SendRequested(
        request_id=request_id,
        workspace_id=workspace_id,
        recipients=tuple(
            Recipient(address=address, kind=kind, message_id=message_id)
            for (address, kind), message_id in zip(kinds, ids, strict=True)
        ),
        content=Content(
            sender=send.sender,
            subject=send.subject,
            to=send.to,
            cc=send.cc,
            reply_to=send.reply_to,
            html=send.html,
            text=send.text,
            headers=send.headers,
            tags=send.tags,
            metadata=send.metadata,
            program=send.program,
            list_id=send.list_id,
            track_opens=_either(send.track_opens, defaults.track_opens),
            track_clicks=_either(send.track_clicks, defaults.track_clicks),
        ),
        accepted_at=accepted_at,
        limit=limit,
    )


def _either(asked: bool | None, default: bool) -> bool:
    return default if asked is None else asked


def accepted(record: SendRequested) -> SendAccepted:
    return SendAccepted(
        id=record.request_id,
        messages=[AcceptedMessage(id=r.message_id, to=r.address) for r in record.recipients],
    )


def _again(send: ValidSend, plan: SendAccepted, caller: Caller) -> SendRequested:
    """The record of a send planned as ``plan`` before, with the planned ids."""
    return build_record(
        send,
        request_id=plan.id,
        workspace_id=caller.workspace_id,
        accepted_at=time.time(),
        limit=send_limit(caller),
        message_ids=[m.id for m in plan.messages],
        tracking=caller.tracking,
    )


def send_limit(caller: Caller) -> SendLimit:
    """The send rate of the caller's plan, carried by the record to dispatch."""
    return SendLimit(rate=caller.limits.send_rate, burst=caller.limits.send_burst)


SEND_EXAMPLE = {
    "from": "Acme <billing@acme.example>",
    "to": ["ada@example.com"],
    "subject": "Your invoice",
    "text": "Invoice INV-1042 is attached to your account.",
    "tags": ["invoice"],
    "metadata": {"invoice": "INV-1042"},
}
ACCEPTED_EXAMPLE = SendAccepted(
    id="req_01jtj8m4t6v2k9c3x5b7n1p0re",
    messages=[AcceptedMessage(id="msg_01jtj8m4t6v2k9c3x5b7n1p0rd", to="ada@example.com")],
)
BATCH_EXAMPLE = BatchAccepted(
    [
        BatchItemResult(0, 202, id=ACCEPTED_EXAMPLE.id, messages=ACCEPTED_EXAMPLE.messages),
        BatchItemResult(
            1,
            422,
            error=problem_of(
                ValidationFailed([FieldError("to[0]", "not a valid address")]),
                "req_01jtj8m4t6v2k9c3x5b7n1p0rf",
            ),
        ),
    ]
)
Batch = Annotated[list[SendEmail], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


@post(
    "/emails",
    status_code=HTTP_202_ACCEPTED,
    opt={"scope": "send"},
    tags=["emails"],
    summary="Send an email",
    description="Validates the email, gives the request and each recipient (to, cc, bcc) an id "
    "and answers once Kafka has it; any 4xx means nothing was sent. Needs a `send` or `full` "
    "key.",
    operation_class=body_documented_as(SendEmail, SEND_EXAMPLE, headers=[IDEMPOTENCY_KEY]),
    responses={
        **returns(
            SendAccepted, ACCEPTED_EXAMPLE, "Accepted: one message id per recipient.", status=202
        ),
        **problems(400, *GUARDED, 409, 413, 422, 503),
    },
)
async def send_email(request: Request[Any, Any, Any], intake: IntakeDep) -> Response[bytes]:
    """Validate, give the request and each recipient an id, and return once Kafka has it.

    Declared for routing, the guard and the OpenAPI document; in the app :mod:`api.send_lane`
    answers this route first, with :func:`accept_send` as here."""
    reply, replayed = await accept_send(
        request.scope, await request.body(), caller_of(request), intake
    )
    return response(reply, replayed=replayed)


async def accept_send(
    scope: HTTPScope, body: bytes, caller: Caller, intake: Intake
) -> tuple[Reply, bool]:
    """``POST /v1/emails`` once the key is admitted: its reply, and whether it is a replay."""
    producer, settings = intake.producer, intake.settings
    workspace_id = caller.workspace_id
    idem = idempotent_request(scope, workspace_id, body)
    checked = validate_send(decode_send(body), max_recipients=settings.max_recipients)
    if isinstance(checked, list):
        raise ValidationFailed(checked)
    # The send's id is the HTTP request id when Herald made that one, so one id names both;
    # an id the client chose is echoed in X-Request-Id but never becomes a send id.
    http_id = request_id_of(scope)
    request_id = http_id.value if http_id.generated else new_id("req")
    record = build_record(
        checked,
        request_id=request_id,
        workspace_id=workspace_id,
        accepted_at=time.time(),
        limit=send_limit(caller),
        tracking=caller.tracking,
    )

    async def execute(plan: bytes, resumed: bool) -> Reply:
        todo = record
        if resumed:
            todo = _again(checked, msgspec.json.decode(plan, type=SendAccepted), caller)
        await producer.send_requested(todo)
        return Reply(HTTP_202_ACCEPTED, plan)

    planned = Reply(HTTP_202_ACCEPTED, msgspec.json.encode(accepted(record)))
    return await settle(idem, planned=planned, execute=execute, ttl=settings.idempotency_ttl)


@post(
    "/emails/batch",
    status_code=HTTP_200_OK,
    opt={"scope": "send"},
    tags=["emails"],
    summary="Send a batch of emails",
    description="1 to 1000 emails shaped like POST /v1/emails, each judged alone; one result "
    "per email, in order, with the status POST /v1/emails would have answered. Needs a `send` "
    "or `full` key.",
    operation_class=body_documented_as(Batch, [SEND_EXAMPLE], headers=[IDEMPOTENCY_KEY]),
    responses={
        **returns(BatchAccepted, BATCH_EXAMPLE, "One result per email, in request order."),
        **problems(400, *GUARDED, 409, 413, 422),
    },
)
async def send_batch(request: Request[Any, Any, Any], intake: IntakeDep) -> Response[bytes]:
    """Validate each email, produce the valid ones at once, answer one result per email."""
    caller, producer, settings = caller_of(request), intake.producer, intake.settings
    body = await request.body()
    workspace_id = caller.workspace_id
    idem = idempotent_request(request.scope, workspace_id, body)
    emails = [
        check_email(raw, max_recipients=settings.max_recipients) for raw in decode_batch(body)
    ]
    valid = [(i, send) for i, send in enumerate(emails) if isinstance(send, ValidSend)]
    now = time.time()
    records = {
        i: build_record(
            send,
            request_id=rid,
            workspace_id=workspace_id,
            accepted_at=now,
            limit=send_limit(caller),
            tracking=caller.tracking,
        )
        for (i, send), rid in zip(valid, new_ids("req", len(valid)), strict=True)
    }
    http_id = request_id_of(request.scope).value

    async def execute(plan: bytes, resumed: bool) -> Reply:
        todo = records
        if resumed:
            stored = msgspec.json.decode(plan, type=BatchAccepted)
            todo = _batch_again(dict(valid), stored, caller)
        failed = await _produce_all(producer, todo)
        answer = batch_answer(emails, todo, failed, request_id=http_id)
        return Reply(HTTP_200_OK, msgspec.json.encode(answer), keep=len(failed) < len(todo))

    planned = batch_answer(emails, records, {}, request_id=http_id)
    return await run_idempotent(
        idem if records else None,  # nothing to send: nothing to remember
        planned=Reply(HTTP_200_OK, msgspec.json.encode(planned)),
        execute=execute,
        ttl=settings.idempotency_ttl,
    )


def _batch_again(
    valid: Mapping[int, ValidSend], plan: BatchAccepted, caller: Caller
) -> dict[int, SendRequested]:
    """The records of a batch planned as ``plan`` before, each with its planned ids."""
    return {
        item.index: _again(valid[item.index], SendAccepted(item.id, item.messages), caller)
        for item in plan.data
        if item.id is not None and item.messages is not None
    }


async def _produce_all(
    producer: SendProducer, records: Mapping[int, SendRequested]
) -> dict[int, ApiError]:
    """Produce every record at once; the error of each one that was not accepted."""
    outcomes = await asyncio.gather(
        *(producer.send_requested(r) for r in records.values()), return_exceptions=True
    )
    failed: dict[int, ApiError] = {}
    for index, outcome in zip(records, outcomes, strict=True):
        if isinstance(outcome, ApiError):
            failed[index] = outcome
        elif isinstance(outcome, Exception):
            log.error("batch email %d could not be produced", index, exc_info=outcome)
            failed[index] = ApiError("Something went wrong on our side with this email.")
        elif isinstance(outcome, BaseException):
            raise outcome
    return failed


def batch_answer(
    emails: Sequence[ValidSend | ApiError],
    sent: Mapping[int, SendRequested],
    failed: Mapping[int, ApiError],
    *,
    request_id: str,
) -> BatchAccepted:
    """One result per email, in order: its problem, its produce failure, or its ids."""
    data = []
    for index, email in enumerate(emails):
        error = email if isinstance(email, ApiError) else failed.get(index)
        if error is not None:
            data.append(
                BatchItemResult(index, int(error.status), error=problem_of(error, request_id))
            )
        else:
            answer = accepted(sent[index])
            data.append(
                BatchItemResult(index, HTTP_202_ACCEPTED, id=answer.id, messages=answer.messages)
            )
    return BatchAccepted(data)
