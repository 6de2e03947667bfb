"""Table reads and writes for events taken in batches.

Faust picks a table write's changelog partition, and the store a read looks in, from the
*current* event. Inside ``take_events`` that is not the batch member being handled (another
task buffers the events), so this context manager makes the member current while its keys are
read and written.
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
