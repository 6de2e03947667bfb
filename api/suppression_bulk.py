"""``POST /v1/suppressions/bulk``: many additions and removals in one request, each judged
alone, like ``POST /v1/emails/batch``.

A body of the wrong shape is refused as a whole (400 or 422), as the single routes refuse
theirs; an item that has the right shape but names nothing valid (a bad address, an unknown
id) gets its own 422 or 404 in the answer, while the others go ahead. Two items naming the
same entry are refused (the later one, 422): the pipeline applies changes in the order they
reach their partition, and items produced concurrently have no order.

Every accepted change is produced at once; the acknowledged ones are then written in one
database transaction (:mod:`api.suppression_changes` says why in that order).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_204_NO_CONTENT,
    HTTP_404_NOT_FOUND,
)

from api.errors import ApiError, NotFound, ValidationFailed, problem_of
from api.producer import SendProducer
from api.suppression_changes import add_change, publish, record, remove_change
from api.suppression_input import ENTRY_ID, check_target, new_entry
from api.suppression_schemas import (
    MAX_BULK,
    SuppressionBulk,
    SuppressionBulkItem,
    SuppressionBulkResult,
    view,
)
from api.validation import FieldError
from streams.records import Suppression, SuppressionChange
from tables import suppressions
from tables.suppressions import Stored


@dataclass(frozen=True, slots=True)
class Judged:
    """The bulk's items before they meet the database: per item its entry (add), its entry
    id (remove), or the error the single route would have answered."""

    add: list[Suppression | ApiError]
    remove: list[str | ApiError]


def judge(workspace_id: str, bulk: SuppressionBulk, now: float) -> Judged:
    """Each item checked on its own (pure); a 422 for the whole bulk when it is empty or
    too large."""
    total = len(bulk.add) + len(bulk.remove)
    if not 1 <= total <= MAX_BULK:
        message = f"add and remove hold 1 to {MAX_BULK} items together, not {total}"
        raise ValidationFailed([FieldError("add", message)])
    add: list[Suppression | ApiError] = []
    for i, body in enumerate(bulk.add):
        target = check_target(body, f"add[{i}].")
        if isinstance(target, list):
            add.append(ValidationFailed(target))
        else:
            add.append(new_entry(workspace_id, target, reason=body.reason, note=body.note, now=now))
    remove: list[str | ApiError] = []
    for i, item in enumerate(bulk.remove):
        if isinstance(item, str):
            remove.append(item if ENTRY_ID.fullmatch(item) else _missing(item))
            continue
        target = check_target(item, f"remove[{i}].")
        remove.append(
            ValidationFailed(target) if isinstance(target, list) else target.entry_id(workspace_id)
        )
    _refuse_repeats(add, remove)
    return Judged(add, remove)


def _refuse_repeats(add: list[Suppression | ApiError], remove: list[str | ApiError]) -> None:
    seen: dict[str, str] = {}
    for items, op in ((add, "add"), (remove, "remove")):
        for i, item in enumerate(items):
            if isinstance(item, ApiError):
                continue
            id_ = item if isinstance(item, str) else item.id
            if id_ in seen:
                message = f"names the same entry as {seen[id_]}; one change per entry"
                items[i] = ValidationFailed([FieldError(f"{op}[{i}]", message)])
            else:
                seen[id_] = f"{op}[{i}]"


@dataclass(slots=True)
class _Outcome:
    """What becomes of one item: the change to make, or the error it answers."""

    index: int
    status: int
    change: SuppressionChange | None = None
    error: ApiError | None = None


async def run(
    producer: SendProducer, workspace_id: str, judged: Judged, *, request_id: str
) -> tuple[SuppressionBulkResult, bool]:
    """Carry the valid items out; the answer, and whether any change was accepted."""
    ids = [e.id for e in judged.add if isinstance(e, Suppression)]
    ids += [i for i in judged.remove if isinstance(i, str)]
    stored = await suppressions.stored_entries(workspace_id, ids)
    now = time.time()
    add = [_add(i, item, stored, now) for i, item in enumerate(judged.add)]
    remove = [_remove(i, item, stored, now) for i, item in enumerate(judged.remove)]

    todo = [o for o in (*add, *remove) if o.change is not None]
    errors = await publish(producer, [o.change for o in todo if o.change is not None])
    for outcome, error in zip(todo, errors, strict=True):
        if error is not None:
            outcome.status, outcome.change, outcome.error = int(error.status), None, error
    accepted = [o.change for o in todo if o.change is not None]
    await record(accepted)
    answer = SuppressionBulkResult(
        add=[_item(o, request_id) for o in add], remove=[_item(o, request_id) for o in remove]
    )
    return answer, bool(accepted)


def _add(
    index: int, item: Suppression | ApiError, stored: dict[str, Stored], now: float
) -> _Outcome:
    if isinstance(item, ApiError):
        return _Outcome(index, int(item.status), error=item)
    change, new = add_change(item, stored.get(item.id), now)
    return _Outcome(index, HTTP_201_CREATED if new else HTTP_200_OK, change=change)


def _remove(index: int, item: str | ApiError, stored: dict[str, Stored], now: float) -> _Outcome:
    if isinstance(item, ApiError):
        return _Outcome(index, int(item.status), error=item)
    found = stored.get(item)
    if found is None or not found.live:
        return _Outcome(index, HTTP_404_NOT_FOUND, error=_missing(item))
    return _Outcome(index, HTTP_204_NO_CONTENT, change=remove_change(found, now))


def _missing(entry_id: str) -> NotFound:
    return NotFound(f"This workspace has no suppression {entry_id}.")


def _item(outcome: _Outcome, request_id: str) -> SuppressionBulkItem:
    if outcome.error is not None:
        return SuppressionBulkItem(
            outcome.index, outcome.status, error=problem_of(outcome.error, request_id)
        )
    assert outcome.change is not None  # noqa: S101 (an outcome has one or the other)
    return SuppressionBulkItem(outcome.index, outcome.status, entry=view(outcome.change.entry))
