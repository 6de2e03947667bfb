"""What a webhook request asks for, checked, and the endpoint records it makes (pure: no I/O,
no web framework).

Every change builds the endpoint's whole record (the topic is compacted: the latest record is
the configuration), timed just after the stored one so that the database and the workers
order the changes as they were made, even with API hosts' clocks a little apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import msgspec

from api.validation import MAX_TAG_LENGTH, FieldError, check_name
from api.webhook_schemas import WebhookBody, WebhookChange, WebhookReplay
from streams.records import WebhookEndpoint, WebhookSecret
from streams.webhook_targets import url_problem

ENDPOINT_ID = re.compile(r"wh_[0-9a-z]{26}")
ATTEMPT_ID = re.compile(r"[0-9a-f]{64}")
EVENT_ID = re.compile(r"evt_[0-9a-z]{1,60}")
MAX_SECRETS = 5  # newest first; rotating faster than the overlap drops the oldest
MAX_REPLAY_RANGE = timedelta(days=31)
_TAG = re.compile(r"[A-Za-z0-9_-]+")  # the rule of sends' tags (api.validation)
_STEP = 0.001  # the least a new record is later than the stored one


def change_at(stored: WebhookEndpoint | None, now: float) -> float:
    """The time of a new record of an endpoint: now, or just after its stored record."""
    return now if stored is None else max(now, stored.changed_at + _STEP)


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _check_url(url: str, allow_loopback: bool, errors: list[FieldError]) -> None:
    problem = url_problem(url, allow_loopback=allow_loopback)
    if problem is not None:
        errors.append(FieldError("url", problem))


def _check_tags(tags: list[str], errors: list[FieldError]) -> None:
    for i, tag in enumerate(tags):
        if not _TAG.fullmatch(tag) or len(tag) > MAX_TAG_LENGTH:
            errors.append(
                FieldError(
                    f"tags[{i}]", f"1 to {MAX_TAG_LENGTH} characters of letters, digits, '_', '-'"
                )
            )


def _check_programs(programs: list[str], errors: list[FieldError]) -> None:
    for i, program in enumerate(programs):
        check_name(f"programs[{i}]", program, errors)


def new_endpoint(
    body: WebhookBody,
    *,
    endpoint_id: str,
    workspace_id: str,
    sealed_secret: str,
    allow_loopback: bool,
    now: float,
) -> WebhookEndpoint | list[FieldError]:
    """The endpoint ``body`` describes, or every field error in it."""
    errors: list[FieldError] = []
    if body.url is None:
        errors.append(FieldError("url", "is required"))
    else:
        _check_url(body.url, allow_loopback, errors)
    _check_tags(body.tags, errors)
    _check_programs(body.programs, errors)
    if errors or body.url is None:
        return errors
    return WebhookEndpoint(
        id=endpoint_id,
        workspace_id=workspace_id,
        url=body.url,
        secrets=(WebhookSecret(sealed_secret),),
        created_at=now,
        changed_at=now,
        event_types=_unique(list(body.event_types)),
        tags=_unique(body.tags),
        programs=_unique(body.programs),
        enabled=body.enabled,
        description=body.description,
        batch_size=body.batch_size,
    )


def changed(
    stored: WebhookEndpoint, change: WebhookChange, *, allow_loopback: bool, now: float
) -> WebhookEndpoint | list[FieldError]:
    """``stored`` with the fields ``change`` gives, or every field error in them. Turning an
    endpoint on again forgets why Herald turned it off; turning it off is the user's doing."""
    errors: list[FieldError] = []
    given = {
        name: value
        for name, value in msgspec.structs.asdict(change).items()
        if value is not msgspec.UNSET
    }
    if "url" in given:
        _check_url(given["url"], allow_loopback, errors)
    _check_tags(given.get("tags", []), errors)
    _check_programs(given.get("programs", []), errors)
    if errors:
        return errors
    for name in ("event_types", "tags", "programs"):
        if name in given:
            given[name] = _unique(given[name])
    if "enabled" in given and given["enabled"] != stored.enabled:
        given["disabled_reason"] = None
    updated = replace(stored, **given)
    if updated == stored:
        return stored  # nothing to say: no new record
    return replace(updated, changed_at=change_at(stored, now))


def rotated(
    stored: WebhookEndpoint, sealed_secret: str, *, overlap: float, now: float
) -> WebhookEndpoint:
    """``stored`` signing with a new secret first; the current ones stop at ``now +
    overlap`` (or earlier, if already set to), those already stopped are dropped."""
    ends = now + overlap
    kept = [
        replace(s, expires_at=ends if s.expires_at is None else min(s.expires_at, ends))
        for s in stored.secrets
    ]
    live = [s for s in kept if s.expires_at is not None and s.expires_at > now]
    secrets = (WebhookSecret(sealed_secret), *live[: MAX_SECRETS - 1])
    return replace(stored, secrets=secrets, changed_at=change_at(stored, now))


def deleted(stored: WebhookEndpoint, now: float) -> WebhookEndpoint:
    """The record saying ``stored`` is gone; it carries no secrets any more."""
    return replace(
        stored, deleted=True, enabled=False, secrets=(), changed_at=change_at(stored, now)
    )


@dataclass(frozen=True, slots=True)
class ReplayAsk:
    """One event (``event_id``), or the events from ``since`` (inclusive) to ``until``
    (exclusive), epoch seconds."""

    event_id: str | None = None
    since: float = 0.0
    until: float = 0.0


def replay_ask(body: WebhookReplay) -> ReplayAsk | list[FieldError]:
    """What a replay asks for, or every field error; times without a zone are UTC."""
    errors: list[FieldError] = []
    if body.event_id is not None:
        if body.since is not None or body.until is not None:
            errors.append(FieldError("event_id", "give event_id, or since and until, not both"))
        elif not EVENT_ID.fullmatch(body.event_id):
            errors.append(FieldError("event_id", "not an event id (evt_...)"))
        return errors or ReplayAsk(event_id=body.event_id)
    if body.since is None:
        errors.append(FieldError("since", "event_id, or since and until, is required"))
    if body.until is None:
        errors.append(FieldError("until", "is required with since"))
    if body.since is None or body.until is None:
        return errors
    since, until = _utc(body.since), _utc(body.until)
    if until <= since:
        errors.append(FieldError("until", "must be later than since"))
    elif until - since > MAX_REPLAY_RANGE:
        errors.append(FieldError("until", f"at most {MAX_REPLAY_RANGE.days} days after since"))
    return errors or ReplayAsk(since=since.timestamp(), until=until.timestamp())


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
