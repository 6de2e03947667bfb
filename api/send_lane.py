"""``POST /v1/emails`` answered below Litestar's request and response objects.

The send route is what clients call most, and around its handler Litestar built a copy of
the route handler for each guard call, a Request and its body stream, then a Response and
an ASGIResponse: py-spy under wrk gave that machinery as much of the API's time as
Herald's own work for a send. The lane is middleware on the ``/v1`` router that, for this
one route, does the same steps itself: the key's admission (:meth:`api.auth.Admit.check`),
the body under the route's size limit, :func:`api.routes.emails.accept_send` and the
response. Everything around it stays Litestar's: routing (and 405 for other methods), the
``before_send`` hooks (request id, rate-limit headers, HSTS) and the exception handlers,
which turn anything the lane raises into the same problem responses as the route's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from litestar.exceptions import ClientException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler
from litestar.types import (
    ASGIApp,
    HTTPReceiveMessage,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Receive,
    Scope,
    Send,
)

from api.auth import Admit
from api.idempotency import REPLAYED_HEADER
from api.routes.emails import Intake, accept_send, send_email

_JSON = (b"content-type", b"application/json")
_REPLAYED = (REPLAYED_HEADER.lower().encode(), b"true")


def send_lane(admit: Admit, intake: Intake) -> Callable[[ASGIApp], ASGIApp]:
    """The middleware: ``POST /v1/emails`` served here, every other route passed on."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def lane(scope: Scope, receive: Receive, send: Send) -> None:
            handler = scope.get("route_handler")
            if not isinstance(handler, HTTPRouteHandler) or handler.fn is not send_email.fn:
                await app(scope, receive, send)
                return
            caller = await admit.check(scope, handler.opt.get("scope"))
            limit = handler.resolve_request_max_body_size()
            body = await _body(scope, receive, limit)
            if body is None:
                return  # the client went away before its body arrived: nothing was sent
            http = cast("HTTPScope", scope)  # the send route's handler is an HTTP one
            reply, replayed = await accept_send(http, body, caller, intake)
            headers = [_JSON, (b"content-length", str(len(reply.body)).encode())]
            if replayed:
                headers.append(_REPLAYED)
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": reply.status,
                "headers": headers,
            }
            await send(start)
            body_event: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": reply.body,
                "more_body": False,
            }
            await send(body_event)

        return lane

    return middleware


async def _body(scope: Scope, receive: Receive, limit: int | None) -> bytes | None:
    """The request body, or 413 as soon as it is known to be over ``limit`` (as Litestar's
    ``Request.body`` does); None when the client disconnected first."""
    limit = limit or 0
    announced = next(
        (v.decode("latin-1") for k, v in scope["headers"] if k == b"content-length"), None
    )
    if announced is not None:
        try:
            length = int(announced)
        except ValueError:
            raise ClientException(f"Invalid content-length: {announced!r}") from None
        if limit and length > limit:
            raise RequestEntityTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = cast("HTTPReceiveMessage", await receive())
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit and size > limit:
            raise RequestEntityTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
