"""Table reads and writes for events taken in batches.

Faust picks a table write's changelog partition from the *current* event. Inside
``take_events`` the current event is whichever was buffered last, which may be from another
partition; this context manager makes a batch member current while its keys are written.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event


@contextmanager
def current(event: Any) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
