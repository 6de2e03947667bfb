"""Reading request input by hand: JSON bodies decoded into msgspec types, and query strings
held to the parameters a route knows. Every mistake becomes a problem naming its field.

Routes that take an ``Idempotency-Key`` decode their body themselves (they need its exact
bytes anyway); :func:`decode` gives them the same field errors Litestar's own decoding gives.
Times in query strings are RFC 3339 (Litestar parses them); :func:`epoch_seconds` reads one
without a zone as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypeVar

import msgspec

from api.errors import UNKNOWN_FIELD, MalformedBody, ValidationFailed
from api.validation import FieldError

T = TypeVar("T")
_ERROR_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def decode(body: bytes, type_: type[T]) -> T:
    """The body as ``type_``; 400 when it is not JSON (or not an object), 422 naming the field
    whose shape is wrong: msgspec's ``Expected `str`, got `int` - at `$.add[0].email``` is a
    field error on ``add[0].email``."""
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        match = _ERROR_AT.match(str(exc))
        message = match.group("message") if match else str(exc)
        field = ((match.group("path") or "") if match else "").removeprefix(".")
        if unknown := UNKNOWN_FIELD.match(message):
            name = unknown.group("name")
            field, message = (f"{field}.{name}" if field else name), "unknown field"
        if not field:
            raise MalformedBody(f"The body must be a JSON object: {message}") from exc
        raise ValidationFailed([FieldError(field, message)]) from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"The body is not valid JSON: {exc}") from exc


def only_known(given: Iterable[str], known: frozenset[str]) -> None:
    """422 naming every query parameter the route does not know: a misspelt filter must not
    silently widen what a request reads."""
    unknown = [name for name in dict.fromkeys(given) if name not in known]
    if unknown:
        raise ValidationFailed([FieldError(name, "unknown query parameter") for name in unknown])


def epoch_seconds(at: datetime | None) -> float | None:
    """A query's time as epoch seconds (how the tables store times); without a zone, UTC."""
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
