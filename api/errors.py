"""The API's errors and the one place that turns any error into an RFC 9457 problem response.

Every response, success or error, carries ``X-Request-Id``: the client's own when it sent a
safe one, else one Herald generated. Error bodies repeat it as ``request_id``; quote it when
looking for the request in the logs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap, Message, Scope

from api.schemas import FieldErrorView, Problem, new_id
from api.validation import FieldError

log = logging.getLogger("herald.api")

PROBLEM_BASE = "https://herald.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
REQUEST_ID_HEADER = "X-Request-Id"

# --- errors the API raises -------------------------------------------------------------------


class ApiError(Exception):
    """Base of the errors Herald's API answers with a problem of its own kind."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR
    kind = "internal"
    title = "Internal error"

    def __init__(self, detail: str, *, kind: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if kind is not None:  # a more precise kind than the class's, e.g. "ip-not-allowed"
            self.kind = kind


class MalformedBody(ApiError):
    """The body is not a JSON object. The client must send ``Content-Type: application/json``
    with a JSON object body."""

    status = HTTPStatus.BAD_REQUEST
    kind = "malformed-body"
    title = "Malformed request body"


class ValidationFailed(ApiError):
    """The body is JSON but some fields are missing or wrong; ``errors`` lists every one."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    kind = "validation"
    title = "Invalid request"

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(f"{len(errors)} field(s) are invalid; see errors")
        self.errors = list(errors)


class Unauthorized(ApiError):
    """No API key, or one Herald does not know or has revoked. Send
    ``Authorization: Bearer <key>``; create keys with ``herald keys create``."""

    status = HTTPStatus.UNAUTHORIZED
    kind = "unauthorized"
    title = "Missing or invalid API key"


class Forbidden(ApiError):
    """The key is valid but may not do this: its scopes lack the route's (``insufficient-scope``)
    or its IP allowlist does not admit the caller (``ip-not-allowed``)."""

    status = HTTPStatus.FORBIDDEN
    kind = "forbidden"
    title = "Forbidden"


class Conflict(ApiError):
    """The request clashes with the resource's state (a key already rotated, too many keys)."""

    status = HTTPStatus.CONFLICT
    kind = "conflict"
    title = "Conflict"


class RateLimited(ApiError):
    """The key spent its request budget; ``Retry-After`` (put on by the rate-limit headers
    hook) says when to come back."""

    status = HTTPStatus.TOO_MANY_REQUESTS
    kind = "rate-limited"
    title = "Too many requests"


class NotFound(ApiError):
    """The resource does not exist, or belongs to another workspace (not distinguished)."""

    status = HTTPStatus.NOT_FOUND
    kind = "not-found"
    title = "Not found"


class QueueUnavailable(ApiError):
    """Kafka did not acknowledge the send, so nothing was accepted. Clients retry with backoff;
    operators check that the brokers in ``HERALD_KAFKA_BOOTSTRAP`` are up and reachable."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    kind = "queue-unavailable"
    title = "Sending is temporarily unavailable"


class RecordTooLarge(ApiError):
    """The send is larger than the queue accepts (the producer's ``max_request_size`` or the
    broker's ``message.max.bytes``). Clients send smaller content; operators may raise both."""

    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    kind = "too-large"
    title = "Request too large"


class InvalidIdempotencyKey(ApiError):
    """The ``Idempotency-Key`` header is empty, too long, repeated or not printable ASCII.
    Send one key of 1 to 255 printable ASCII characters, e.g. a UUID."""

    status = HTTPStatus.BAD_REQUEST
    kind = "invalid-idempotency-key"
    title = "Invalid Idempotency-Key"


class IdempotencyConflict(ApiError):
    """A request with the same ``Idempotency-Key`` is still being processed. Retry after a
    few seconds: the retry gets the first request's answer."""

    status = HTTPStatus.CONFLICT
    kind = "idempotency-in-flight"
    title = "Request with this Idempotency-Key in progress"


class IdempotencyMismatch(ApiError):
    """The ``Idempotency-Key`` was already used for a different request (other method, path
    or body). Use a new key for a new request."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    kind = "idempotency-mismatch"
    title = "Idempotency-Key reused with a different request"


# --- request ids -----------------------------------------------------------------------------

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=@~-]{1,128}")
_STATE_KEY = "herald.request_id"


@dataclass(frozen=True, slots=True)
class RequestId:
    value: str
    generated: bool  # False: the client's own X-Request-Id, echoed


def request_id_of(scope: Scope) -> RequestId:
    """This request's id: the client's ``X-Request-Id`` when it is at most 128 safe characters,
    else a new ``req_`` id. Decided once per request and remembered in the scope state."""
    state = scope.setdefault("state", {})
    known = state.get(_STATE_KEY)
    if isinstance(known, RequestId):
        return known
    sent = next(
        (value for name, value in scope.get("headers", ()) if name == b"x-request-id"), None
    )
    text = sent.decode("latin-1") if sent is not None else ""
    if _SAFE_REQUEST_ID.fullmatch(text):
        found = RequestId(text, generated=False)
    else:
        found = RequestId(new_id("req"), generated=True)
    state[_STATE_KEY] = found
    return found


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """``before_send`` hook: put ``X-Request-Id`` on every HTTP response that lacks it."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", ()))
    if any(name.lower() == b"x-request-id" for name, _ in headers):
        return
    headers.append((b"x-request-id", request_id_of(scope).value.encode("latin-1")))
    message["headers"] = headers


# --- problems --------------------------------------------------------------------------------

# What Litestar's own exceptions become: problem kind and the detail a client reads.
_HTTP_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("malformed-request", "The request could not be read."),
    401: ("unauthorized", "Send Authorization: Bearer <key>."),
    404: ("not-found", "There is nothing at this address."),
    405: ("method-not-allowed", "This address does not accept this method."),
    413: ("too-large", "The request body is larger than this server accepts."),
}


def problem(
    request: Request[Any, Any, Any],
    status: int,
    kind: str,
    title: str,
    detail: str,
    *,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    request_id = request_id_of(request.scope).value
    body = Problem(
        type=PROBLEM_BASE + kind,
        title=title,
        status=status,
        detail=detail,
        request_id=request_id,
        errors=[FieldErrorView(e.field, e.message) for e in errors] if errors is not None else None,
    )
    all_headers = {**(headers or {}), REQUEST_ID_HEADER: request_id}
    if status == HTTPStatus.UNAUTHORIZED:
        all_headers["WWW-Authenticate"] = 'Bearer realm="herald"'
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=all_headers)


def problem_of(exc: ApiError, request_id: str) -> Problem:
    """The problem body of ``exc`` on its own, for answers that embed several (batch items)."""
    errors = exc.errors if isinstance(exc, ValidationFailed) else None
    return Problem(
        type=PROBLEM_BASE + exc.kind,
        title=exc.title,
        status=int(exc.status),
        detail=exc.detail,
        request_id=request_id,
        errors=[FieldErrorView(e.field, e.message) for e in errors] if errors is not None else None,
    )


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Problem]:
    if exc.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        log.warning("%s: %s (request %s)", exc.kind, exc.detail, request_id_of(request.scope).value)
    errors = exc.errors if isinstance(exc, ValidationFailed) else None
    return problem(request, exc.status, exc.kind, exc.title, exc.detail, errors=errors)


def _litestar_validation(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    """Litestar's own decoding of bodies and parameters: every field error at once, as 422,
    like Herald's; a body that is not the right JSON at all stays a 400."""
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        message, key = str(item.get("message", "invalid")), str(item.get("key") or "")
        if unknown := UNKNOWN_FIELD.match(message):
            key, message = unknown.group("name"), "unknown field"
        elif key in ("", "data"):
            continue  # the body as a whole: not a field
        errors.append(FieldError(key, message))
    if not errors:
        return _http_error(request, exc)
    return _api_error(request, ValidationFailed(errors))


UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<name>.*)`$", re.DOTALL)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return _internal_error(request, exc)
    kind, detail = _HTTP_PROBLEMS.get(status, ("client-error", HTTPStatus(status).description))
    if status == HTTPStatus.BAD_REQUEST and exc.detail:
        detail = exc.detail  # Litestar's 400 details describe the input, never the server
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
    return problem(request, status, kind, HTTPStatus(status).phrase, detail, headers=headers)


def _recursion_error(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Problem]:
    """msgspec gives up on JSON nested deeper than Python's recursion limit: a body no client
    means to send, refused like any other malformed body. Any other recursion is our bug."""
    if "deserializing" not in str(exc):
        return _internal_error(request, exc)
    return _api_error(request, MalformedBody("The JSON body is nested too deeply."))


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    request_id = request_id_of(request.scope).value
    log.error(
        "unhandled error on %s %s (request %s)",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
    )
    return problem(
        request,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        f"Something went wrong on our side. Quote request id {request_id} when reporting it.",
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: _api_error,
    ValidationException: _litestar_validation,
    RecursionError: _recursion_error,
    HTTPException: _http_error,
    Exception: _internal_error,
}
