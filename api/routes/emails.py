"""``POST /v1/emails``: accept a send request and put it on Kafka.

202 means the broker acknowledged the ``SendRequested`` record; from there delivery is the
workers' job. Any 4xx means nothing was produced.
"""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_202_ACCEPTED

from api.errors import MalformedBody, ValidationFailed, request_id_of
from api.producer import SendProducer
from api.schemas import AcceptedMessage, SendAccepted, SendEmail, new_id, new_ids
from api.validation import FieldError, ValidSend, validate_send
from config.settings import Settings
from streams.records import Content, Recipient, RecipientKind, SendRequested

_DECODER = msgspec.json.Decoder(SendEmail)
_ERROR_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")


def decode_send(body: bytes) -> SendEmail:
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
    if unknown := _UNKNOWN_FIELD.match(message):
        name = unknown.group("name")
        field = f"{field}.{name}" if field else name
        message = "unknown field"
    if not field:
        return MalformedBody(f"The body must be a JSON object: {message}")
    return ValidationFailed([FieldError(field, message)])


def build_record(
    send: ValidSend, *, request_id: str, workspace_id: str, accepted_at: float
) -> SendRequested:
    """The record for an accepted send: one message id per recipient, in to, cc, bcc order."""
    kinds: list[tuple[str, RecipientKind]] = [
        *((a, "to") for a in send.to),
        *((a, "cc") for a in send.cc),
        *((a, "bcc") for a in send.bcc),
    ]
    message_ids = new_ids("msg", len(kinds))
    return SendRequested(
        request_id=request_id,
        workspace_id=workspace_id,
        recipients=tuple(
            Recipient(address=address, kind=kind, message_id=message_id)
            for (address, kind), message_id in zip(kinds, message_ids, strict=True)
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
        ),
        accepted_at=accepted_at,
    )


@post("/emails", status_code=HTTP_202_ACCEPTED)
async def send_email(
    request: Request[Any, Any, Any],
    workspace_id: NamedDependency[str],
    producer: NamedDependency[SendProducer],
    settings: NamedDependency[Settings],
) -> SendAccepted:
    """Validate, give the request and each recipient an id, and return once Kafka has it."""
    checked = validate_send(
        decode_send(await request.body()), max_recipients=settings.max_recipients
    )
    if isinstance(checked, list):
        raise ValidationFailed(checked)
    # The send's id is the HTTP request id when Herald made that one, so one id names both;
    # an id the client chose is echoed in X-Request-Id but never becomes a send id.
    http_id = request_id_of(request.scope)
    request_id = http_id.value if http_id.generated else new_id("req")
    record = build_record(
        checked, request_id=request_id, workspace_id=workspace_id, accepted_at=time.time()
    )
    await producer.send_requested(record)
    return SendAccepted(
        id=record.request_id,
        messages=[AcceptedMessage(id=r.message_id, to=r.address) for r in record.recipients],
    )
