"""The OpenAPI 3.1 document of the API (JSON at ``/openapi.json``, interactive docs at ``/docs``)
and the helpers a route uses to describe what Litestar cannot see in its signature.

Litestar writes most of the document from the handlers. What it cannot know is added here:

- request bodies decoded by hand (:func:`body_documented_as`): msgspec writes their JSON Schema
  and the finished document carries its components;
- errors (:func:`problems`): every one is an RFC 9457 problem. Litestar also documents a 400 of
  its own shape on routes with parameters; the finished document shows it as a problem too,
  because :mod:`api.errors` answers it as one;
- headers: :data:`COMMON_RESPONSE_HEADERS` on every response, :data:`STATUS_HEADERS` on some.

A route describes itself with decorator arguments, for example::

    @get("/messages/{message_id:str}", summary=..., description=...,
         responses={200: returns(MessageView, EXAMPLE, "The message."),
                    **problems(*GUARDED, 404)})
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar, cast

import msgspec
from litestar import Request, get
from litestar.enums import OpenAPIMediaType as DocumentMediaType
from litestar.exceptions import ImproperlyConfiguredException
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin
from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
    SecurityScheme,
)

from api.errors import (
    PROBLEM_MEDIA_TYPE,
    REQUEST_ID_HEADER,
    ApiError,
    Forbidden,
    IdempotencyConflict,
    MalformedBody,
    NotFound,
    QueueUnavailable,
    RateLimited,
    RecordTooLarge,
    Unauthorized,
    ValidationFailed,
    problem_of,
)
from api.schemas import Problem
from api.validation import FieldError

BEARER = "bearer"
DOCS_PATH = "/docs"
JSON_PATH = "/openapi.json"
_SCHEMA_REF = "#/components/schemas/{name}"
_EXAMPLE_REQUEST_ID = "req_01jqz8m4t6v2k9c3x5b7n1p0rd"

# --- headers ---------------------------------------------------------------------------------

COMMON_RESPONSE_HEADERS: dict[str, OpenAPIHeader] = {
    REQUEST_ID_HEADER: OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING, max_length=128),
        required=True,
        description="The client's own X-Request-Id when it sent a safe one, else Herald's id "
        "for the request. Quote it when reporting a problem.",
    ),
    # On every answer to a request with a valid key (not on 401s, nor on /health).
    "RateLimit-Policy": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        required=False,
        description='The key\'s limit (IETF httpapi draft): `"key";q=<burst>;w=<seconds>`.',
    ),
    "RateLimit": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        required=False,
        description='What is left (IETF httpapi draft): `"key";r=<remaining>;t=<seconds>`.',
    ),
    "X-RateLimit-Limit": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
        required=False,
        description="The most requests the key may make at once (its burst).",
    ),
    "X-RateLimit-Remaining": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
        required=False,
        description="Requests the key may still make right now.",
    ),
    "X-RateLimit-Reset": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
        required=False,
        description="Seconds until the key's budget is full again.",
    ),
}
"""Headers on every response. A header only some responses carry goes here with
``required=False`` (or in :data:`STATUS_HEADERS`)."""

STATUS_HEADERS: dict[int, dict[str, OpenAPIHeader]] = {
    401: {
        "WWW-Authenticate": OpenAPIHeader(
            schema=Schema(type=OpenAPIType.STRING), required=True, description="`Bearer`."
        )
    },
    429: {
        "Retry-After": OpenAPIHeader(
            schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
            required=True,
            description="Seconds to wait before the next request can succeed.",
        )
    },
}


IDEMPOTENCY_KEY = Parameter(
    name="Idempotency-Key",
    param_in="header",
    required=False,
    description="Makes retries safe: for 24 hours the same key with the same body answers "
    "the first response again (with `Idempotent-Replayed: true`); with another body it is a "
    "422, and while the first request still runs it is a 409.",
    # 1 to 255 printable ASCII characters; surrounding spaces are not part of a header value.
    schema=Schema(type=OpenAPIType.STRING, pattern="^[!-~]([ -~]{0,253}[!-~])?$"),
)
"""A request header the emails routes read themselves; give it to :func:`body_documented_as`.
The 2xx answers of an operation that takes it document ``Idempotent-Replayed``."""

IDEMPOTENT_RESPONSE_HEADERS: dict[str, OpenAPIHeader] = {
    "Idempotent-Replayed": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING, const="true"),
        description="Present when this is the stored answer to an earlier request with the "
        "same Idempotency-Key.",
    )
}

# --- errors ----------------------------------------------------------------------------------

# status: what it means to a client, and an error of that status to show as the example
_PROBLEMS: dict[int, tuple[str, ApiError]] = {
    400: (
        "Malformed request: the body is not JSON (or not the JSON value asked for), or a "
        "header is malformed.",
        MalformedBody("The body is not valid JSON: malformed JSON"),
    ),
    401: (
        "No API key, or one that is unknown, revoked or expired.",
        Unauthorized("Send your API key as Authorization: Bearer <key>."),
    ),
    403: (
        "The key may not do this: its scopes or its IP allowlist forbid it.",
        Forbidden(
            "This route needs a key with the 'send' or 'full' scope.", kind="insufficient-scope"
        ),
    ),
    404: (
        "Nothing here in this workspace.",
        NotFound("This workspace has no message msg_01jqz8m4t6v2k9c3x5b7n1p0rd."),
    ),
    409: (
        "The request clashes with the current state, e.g. a request with the same "
        "Idempotency-Key is still running.",
        IdempotencyConflict("A request with this Idempotency-Key is still running."),
    ),
    413: (
        "The request body is larger than the server accepts.",
        RecordTooLarge("The request body is larger than this server accepts."),
    ),
    422: (
        "The body is JSON but fields are missing or invalid (`errors` lists every one), or "
        "the Idempotency-Key was first used with another body.",
        ValidationFailed(
            [FieldError("to[0]", "not a valid email address"), FieldError("subject", "is required")]
        ),
    ),
    429: (
        "The key's rate limit is spent; retry after `Retry-After` seconds.",
        RateLimited("This key allows 100 requests per second; retry in 1 s."),
    ),
    503: (
        "Sending is temporarily unavailable; nothing was accepted. Retry with backoff.",
        QueueUnavailable("The queue did not acknowledge the send."),
    ),
}

GUARDED = (401, 403, 429)
"""What the ``/v1`` guard may answer on any route it guards."""


def _description(status: int) -> str:
    return _PROBLEMS[status][0] if status in _PROBLEMS else HTTPStatus(status).description


def _examples(status: int) -> list[Example] | None:
    if status not in _PROBLEMS:
        return None
    problem = problem_of(_PROBLEMS[status][1], _EXAMPLE_REQUEST_ID)
    return [Example(value=msgspec.to_builtins(problem))]


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """The documented error responses of a route: a problem body, one line on what it means."""
    return {
        status: ResponseSpec(
            Problem,
            generate_examples=False,
            description=_description(status),
            media_type=PROBLEM_MEDIA_TYPE,
            examples=_examples(status),
        )
        for status in statuses
    }


# --- success and request bodies --------------------------------------------------------------


def returns(
    type_: Any, example: Any, description: str, *, status: int = 200
) -> dict[int, ResponseSpec]:
    """The success response with an example (Litestar documents the type alone otherwise)."""
    return {
        status: ResponseSpec(
            type_,
            generate_examples=False,
            description=description,
            examples=[Example(value=_checked_example(example, type_))],
        )
    }


def _checked_example(example: Any, type_: Any) -> Any:
    """The example as JSON values; one that does not fit its type fails at import time."""
    value = msgspec.to_builtins(example)
    msgspec.convert(value, type_)
    return value


@dataclass
class _BodyOperation(Operation):
    """An operation whose body the handler decodes itself; ``schemas`` are the components
    (named like the msgspec types) its body schema refers to."""

    schemas: ClassVar[dict[str, Any]] = {}


def body_documented_as(
    type_: Any, example: Any = None, *, headers: Sequence[Parameter] = ()
) -> type[Operation]:
    """An ``operation_class`` documenting a JSON body of ``type_`` that the handler decodes
    by hand (no ``data`` parameter, so Litestar passes no body), plus header parameters it
    reads itself."""
    (body_schema,), components = msgspec.json.schema_components([type_], ref_template=_SCHEMA_REF)
    value = None if example is None else _checked_example(example, type_)
    # The spec serialiser passes a plain JSON Schema dict through unchanged.
    media = OpenAPIMediaType(schema=cast(Schema, body_schema), example=value)

    @dataclass
    class Documented(_BodyOperation):
        schemas: ClassVar[dict[str, Any]] = {
            name: _without_docstring(c) for name, c in components.items()
        }

        def __post_init__(self) -> None:
            self.request_body = RequestBody(content={"application/json": media}, required=True)
            if headers:
                self.parameters = [*(self.parameters or []), *headers]

    return Documented


def _without_docstring(schema: dict[str, Any]) -> dict[str, Any]:
    """msgspec puts a struct's docstring in its schema; ours are written for Herald's
    developers, so the document (like Litestar's own components) leaves them out."""
    return {key: value for key, value in schema.items() if key != "description"}


def optional_body(*, headers: Sequence[Parameter] = ()) -> type[Operation]:
    """The ``operation_class`` of a route whose ``data`` has a default (Litestar documents
    every body it decodes as required), plus header parameters it reads itself."""

    @dataclass
    class OptionalBody(Operation):
        def __post_init__(self) -> None:
            if isinstance(self.request_body, RequestBody):
                self.request_body.required = False
            if headers:
                self.parameters = [*(self.parameters or []), *headers]

    return OptionalBody


@dataclass
class Public(Operation):
    """The ``operation_class`` of a route that needs no key. Its empty security list overrides
    the document's global bearer requirement (Litestar drops a route's ``security=[]``)."""

    def __post_init__(self) -> None:
        self.security = []


# --- the document ----------------------------------------------------------------------------

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PROBLEM_SCHEMAS = msgspec.json.schema_components([Problem], ref_template=_SCHEMA_REF)[1]


class _Document(OpenAPI):
    """Litestar's document, finished on the way out (see the module docstring)."""

    def to_schema(self) -> dict[str, Any]:
        document = super().to_schema()
        schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
        _add_components(schemas, _PROBLEM_SCHEMAS)
        for operation in self._operations():
            if isinstance(operation, _BodyOperation):
                _add_components(schemas, operation.schemas)
        headers = document["components"].setdefault("headers", {})
        for name, header in _all_headers().items():
            headers.setdefault(name, header.to_schema())
        for path_item in document.get("paths", {}).values():
            for method in _METHODS:
                if method in path_item:
                    _finish_operation(path_item[method])
        return document

    def _operations(self) -> Iterator[Operation]:
        for item in (self.paths or {}).values():
            for method in _METHODS:
                if isinstance(operation := getattr(item, method, None), Operation):
                    yield operation


def _add_components(schemas: dict[str, Any], ours: Mapping[str, Any]) -> None:
    """Add msgspec's components to Litestar's. A name both use must be the same type: it names
    the same properties (the definitions differ only in how they are written)."""
    for name, schema in ours.items():
        known = schemas.setdefault(name, schema)
        if set(known.get("properties", {})) != set(schema.get("properties", {})):
            raise ImproperlyConfiguredException(
                f"Two different types are named {name} in the OpenAPI document; rename one."
            )


def _finish_operation(operation: dict[str, Any]) -> None:
    """Errors as problems, and each response's headers (by reference to the components)."""
    idempotent = any(p.get("name") == IDEMPOTENCY_KEY.name for p in operation.get("parameters", ()))
    responses: dict[str, Any] = operation.get("responses", {})
    if operation.get("parameters") or operation.get("requestBody"):
        # Litestar validates them (and documents a 400 of its own shape, made a problem below);
        # api.errors answers that validation as a 422 listing the fields.
        responses.setdefault("422", {})
    for status, response in responses.items():
        code = int(status) if status.isdigit() else 0
        if code >= HTTPStatus.BAD_REQUEST and PROBLEM_MEDIA_TYPE not in response.get("content", {}):
            response["description"] = _description(code)
            response["content"] = {
                PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _SCHEMA_REF.format(name="Problem")}}
            }
        names = [*COMMON_RESPONSE_HEADERS, *STATUS_HEADERS.get(code, {})]
        if idempotent and HTTPStatus.OK <= code < HTTPStatus.MULTIPLE_CHOICES:
            names.extend(IDEMPOTENT_RESPONSE_HEADERS)
        headers = response.setdefault("headers", {})
        for name in names:
            headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})


def _all_headers() -> dict[str, OpenAPIHeader]:
    found = {**COMMON_RESPONSE_HEADERS, **IDEMPOTENT_RESPONSE_HEADERS}
    for by_name in STATUS_HEADERS.values():
        found.update(by_name)
    return found


class _Config(OpenAPIConfig):
    def to_openapi_schema(self) -> OpenAPI:
        base = super().to_openapi_schema()
        return _Document(**{f.name: getattr(base, f.name) for f in fields(base)})


def _version() -> str:
    try:
        return version("herald")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0"


def openapi_config() -> OpenAPIConfig:
    """The document's settings; docs at ``/docs`` (its JSON also at ``/docs/openapi.json``).

    The docs router sits under ``/docs`` rather than ``/``: Litestar adds a catch-all HTML 404
    to it, which at the root would answer unknown paths with HTML instead of a problem. The
    JSON at the root is :func:`openapi_json`."""
    return _Config(
        title="Herald",
        version=_version(),
        description=(
            "Send email through Herald. Authenticate every `/v1` request with "
            "`Authorization: Bearer <key>` (create keys with `herald keys create`). Every "
            "error is an RFC 9457 problem (`application/problem+json`) and every response "
            "carries `X-Request-Id`."
        ),
        security=[{BEARER: []}],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="hk_live_<secret>",
                    description="An API key: `Authorization: Bearer hk_live_...`.",
                )
            }
        ),
        path=DOCS_PATH,
        render_plugins=[ScalarRenderPlugin(version="1", path="/"), JsonRenderPlugin()],
    )


@get(
    JSON_PATH,
    include_in_schema=False,
    sync_to_thread=False,
    media_type=DocumentMediaType.OPENAPI_JSON,
)
def openapi_json(request: Request[Any, Any, Any]) -> bytes:
    """The document at the root, where clients and tools look for it first."""
    return JsonRenderPlugin.render_json(request, request.app.openapi_schema.to_schema())
