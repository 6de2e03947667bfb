"""``/v1/api-keys``: create, list, read, rotate and revoke the workspace's keys.

Every route here needs a ``full`` key. A key's secret is in the answer to its creation (or to
the rotation that made it) and nowhere else, ever. Keys of another workspace answer 404, the
same as keys that never existed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from api.client_ip import parse_networks
from api.errors import Conflict, NotFound, ValidationFailed
from api.idempotency import Reply, idempotent_request, run_idempotent
from api.openapi import GUARDED, IDEMPOTENCY_KEY, optional_body, problems, returns
from api.validation import FieldError
from config.settings import Settings
from tables import keys
from tables.errors import KeyAlreadyRotated, KeyLimitReached
from tables.keys import KeyRecord

Name = Annotated[str, msgspec.Meta(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")]
ScopeName = Literal["full", "send", "read"]
MAX_ALLOWED_IPS = 50
MAX_OVERLAP = 30 * 24 * 3600


class CreateKey(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new key. ``scopes``: ``send`` (send mail), ``read`` (read messages and events),
    ``full`` (everything, managing keys included). ``allowed_ips``: CIDRs, IPv4 or IPv6; empty
    means any address."""

    name: Name = ""
    scopes: Annotated[list[ScopeName], msgspec.Meta(min_length=1, max_length=3)] = msgspec.field(
        default_factory=lambda: ["full"]
    )
    allowed_ips: Annotated[list[str], msgspec.Meta(max_length=MAX_ALLOWED_IPS)] = msgspec.field(
        default_factory=list
    )


class RotateKey(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``expires_in``: seconds the old key keeps working (0: stops now). Default: 24 h."""

    expires_in: Annotated[int, msgspec.Meta(ge=0, le=MAX_OVERLAP)] | None = None


KeyStatus = Literal["active", "expiring", "expired", "revoked"]


class ApiKeyView(msgspec.Struct):
    """A key without its secret."""

    id: str
    name: str
    scopes: list[str]
    allowed_ips: list[str]
    status: KeyStatus
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    replaced_by: str | None


class NewApiKey(ApiKeyView):
    """A key just made: ``key`` is its secret, shown this once."""

    key: str | None  # None only in an idempotent replay: the secret is never stored


class RotatedApiKey(msgspec.Struct):
    """The rotation's new key (with its secret) and the old key, now expiring."""

    key: NewApiKey
    previous: ApiKeyView


class ApiKeyList(msgspec.Struct):
    data: list[ApiKeyView]
    has_more: bool


_AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
VIEW_EXAMPLE = ApiKeyView(
    id="key_Q2hWmV1n8xk3ZtLp",
    name="billing service",
    scopes=["send"],
    allowed_ips=["203.0.113.0/24"],
    status="active",
    created_at=_AT,
    expires_at=None,
    revoked_at=None,
    replaced_by=None,
)
NEW_EXAMPLE = NewApiKey(
    **msgspec.structs.asdict(VIEW_EXAMPLE), key="hk_live_Q2hWmV1n8xk3ZtLp" + "x" * 27
)
ROTATED_EXAMPLE = msgspec.structs.replace(
    VIEW_EXAMPLE,
    id="key_9dJkq0PzR4bYw7Tc",
    status="expiring",
    expires_at=_AT + timedelta(hours=24),
    replaced_by=VIEW_EXAMPLE.id,
)
REVOKED_EXAMPLE = msgspec.structs.replace(VIEW_EXAMPLE, status="revoked", revoked_at=_AT)


def view(record: KeyRecord) -> ApiKeyView:
    return ApiKeyView(**_fields(record))


def _fields(record: KeyRecord) -> dict[str, Any]:
    now = datetime.now(record.created_at.tzinfo)
    status: KeyStatus
    if record.revoked_at is not None:
        status = "revoked"
    elif record.expires_at is not None:
        status = "expiring" if record.expires_at > now else "expired"
    else:
        status = "active"
    return {
        "id": record.id,
        "name": record.name,
        "scopes": list(record.scopes),
        "allowed_ips": list(record.allowed_ips),
        "status": status,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "replaced_by": record.replaced_by,
    }


def _checked_networks(cidrs: list[str]) -> list[str]:
    """The allowlist in canonical form (``10.1.2.3/8`` becomes ``10.0.0.0/8``)."""
    errors, canonical = [], []
    for i, cidr in enumerate(cidrs):
        try:
            canonical.append(str(parse_networks([cidr])[0]))
        except ValueError:
            errors.append(FieldError(f"allowed_ips[{i}]", "not an IP address or CIDR network"))
    if errors:
        raise ValidationFailed(errors)
    return canonical


class ApiKeysController(Controller):
    path = "/api-keys"
    tags = ["api-keys"]  # noqa: RUF012 (Litestar reads it as a class attribute)
    opt = {"scope": "full"}  # noqa: RUF012 (reading keys is managing them)

    @post(
        status_code=HTTP_201_CREATED,
        summary="Create a key",
        operation_class=optional_body(headers=[IDEMPOTENCY_KEY]),
        responses={
            **returns(NewApiKey, NEW_EXAMPLE, "The key, with its secret, shown once.", status=201),
            **problems(*GUARDED, 409, 413, 422),
        },
    )
    async def create_key(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        settings: NamedDependency[Settings],
        data: JSONBody[CreateKey | None] = None,
    ) -> Response[bytes]:
        """Create a key. The answer holds its secret, once (an idempotent replay does not)."""
        data = data or CreateKey()
        networks = _checked_networks(data.allowed_ips)
        idem = idempotent_request(request.scope, workspace_id, await request.body())

        async def execute(_: bytes, __: bool) -> Reply:
            try:
                record, token = await keys.create_key(
                    workspace_id, name=data.name, scopes=data.scopes, allowed_ips=networks
                )
            except KeyLimitReached as exc:
                raise Conflict(str(exc), kind="too-many-keys") from exc
            return _with_secret(NewApiKey(**_fields(record), key=token))

        return await run_idempotent(
            idem, planned=_PLACEHOLDER, execute=execute, ttl=settings.idempotency_ttl
        )

    @get(
        summary="List keys",
        responses={
            **returns(ApiKeyList, ApiKeyList([VIEW_EXAMPLE], False), "Newest first."),
            **problems(*GUARDED, 422),
        },
    )
    async def list_keys(
        self,
        workspace_id: NamedDependency[str],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 100,
        starting_after: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> ApiKeyList:
        """The workspace's keys, newest first, without secrets. Page with ``starting_after``
        (the last id of the previous page)."""
        found, more = await keys.list_keys(workspace_id, limit=limit, before=starting_after)
        return ApiKeyList(data=[view(r) for r in found], has_more=more)

    @get(
        "/{key_id:str}",
        summary="Get a key",
        responses={**returns(ApiKeyView, VIEW_EXAMPLE, "The key."), **problems(*GUARDED, 404)},
    )
    async def get_key(
        self, workspace_id: NamedDependency[str], key_id: FromPath[str]
    ) -> ApiKeyView:
        """One key, without its secret."""
        return view(await _existing(workspace_id, key_id))

    @post(
        "/{key_id:str}/rotate",
        status_code=HTTP_201_CREATED,
        summary="Rotate a key",
        operation_class=optional_body(headers=[IDEMPOTENCY_KEY]),
        responses={
            **returns(
                RotatedApiKey,
                RotatedApiKey(key=NEW_EXAMPLE, previous=ROTATED_EXAMPLE),
                "The new key, with its secret, and the old one, expiring.",
                status=201,
            ),
            **problems(*GUARDED, 404, 409, 413, 422),
        },
    )
    async def rotate_key(
        self,
        request: Request[Any, Any, Any],
        workspace_id: NamedDependency[str],
        settings: NamedDependency[Settings],
        key_id: FromPath[str],
        data: JSONBody[RotateKey | None] = None,
    ) -> Response[bytes]:
        """Make a replacement key; the old one keeps working for ``expires_in`` seconds
        (default 24 h), then answers 401."""
        asked = data.expires_in if data is not None else None
        overlap = timedelta(seconds=settings.key_rotation_overlap if asked is None else asked)
        idem = idempotent_request(request.scope, workspace_id, await request.body())

        async def execute(_: bytes, __: bool) -> Reply:
            try:
                rotated = await keys.rotate_key(workspace_id, key_id, overlap=overlap)
            except KeyAlreadyRotated as exc:
                raise Conflict(str(exc), kind="key-already-rotated") from exc
            except KeyLimitReached as exc:
                raise Conflict(str(exc), kind="too-many-keys") from exc
            if rotated is None:
                raise NotFound(f"This workspace has no live key {key_id}.")
            old, new, token = rotated
            return _with_secret(
                RotatedApiKey(key=NewApiKey(**_fields(new), key=token), previous=view(old))
            )

        return await run_idempotent(
            idem, planned=_PLACEHOLDER, execute=execute, ttl=settings.idempotency_ttl
        )

    @delete(
        "/{key_id:str}",
        status_code=200,
        summary="Revoke a key",
        responses={
            **returns(ApiKeyView, REVOKED_EXAMPLE, "The key, revoked."),
            **problems(*GUARDED, 404),
        },
    )
    async def revoke_key(
        self, workspace_id: NamedDependency[str], key_id: FromPath[str]
    ) -> ApiKeyView:
        """Revoke a key: every API process refuses it within a second. Revoking twice is
        harmless."""
        revoked = await keys.revoke_key(workspace_id, key_id)
        if revoked is None:
            raise NotFound(f"This workspace has no key {key_id}.")
        return view(revoked)


# Key creations plan no ids ahead: a claim taken over after a crash makes a new key.
_PLACEHOLDER = Reply(HTTP_201_CREATED, b"{}")


def _with_secret(answer: NewApiKey | RotatedApiKey) -> Reply:
    """The answer with its secret for the client, and without it for the idempotency store:
    no secret is ever written to the database."""
    if isinstance(answer, NewApiKey):
        redacted: NewApiKey | RotatedApiKey = msgspec.structs.replace(answer, key=None)
    else:
        redacted = msgspec.structs.replace(
            answer, key=msgspec.structs.replace(answer.key, key=None)
        )
    return Reply(
        HTTP_201_CREATED, msgspec.json.encode(answer), stored_body=msgspec.json.encode(redacted)
    )


async def _existing(workspace_id: str, key_id: FromPath[str]) -> KeyRecord:
    found = await keys.get_key(workspace_id, key_id)
    if found is None:
        raise NotFound(f"This workspace has no key {key_id}.")
    return found
