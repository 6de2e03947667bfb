"""Screen: the suppression check dispatch makes on every delivery before it goes out.

Deliveries (``herald.sends.by_recipient``) are partitioned by recipient address, like
``herald.suppressions``, so the worker holds every suppression entry of the recipients it
dispatches (table ``suppressions``, kept by :mod:`agents.suppressions`). A delivery that an
entry stops gets a ``suppressed`` event naming the entry and goes no further: no SMTP traffic.
Retries come back through here too, so an entry added while a delivery waited for its retry
stops it.
"""

from __future__ import annotations

from typing import Any

from agents.suppressions import entries_of
from streams.records import Delivery, Suppression
from streams.suppressions import first_match, lookup_keys


def suppression_of(table: Any, delivery: Delivery) -> Suppression | None:
    """The entry that stops ``delivery``, if any (its address's entries, then its domain's)."""
    entries = [
        entry
        for key in lookup_keys(delivery.workspace_id, delivery.recipient)
        for entry in entries_of(table.get(key))
    ]
    if not entries:
        return None
    content = delivery.content
    return first_match(entries, program=content.program, list_id=content.list_id)
