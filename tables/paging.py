"""Cursor paging for newest-first listings ordered by (time, id): the rows after the one a
client last saw (``starting_after``)."""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column


async def after_anchor(time: Column, id_: Column, scope: Any, anchor_id: str) -> Any | None:
    """The condition keeping the rows listed after the anchor row, or None when ``scope``
    (the caller's workspace condition) has no row with that id: the page is then empty. The
    anchor may have been removed from the listing since; its position still holds."""
    table = time._meta.table
    anchor = await table.select(time, id_).where(scope & (id_ == anchor_id)).first()
    if anchor is None:
        return None
    at = anchor[time._meta.name]
    return (time < at) | ((time == at) & (id_ < anchor_id))
