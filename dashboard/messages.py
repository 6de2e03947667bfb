"""Messages the background workers post to the app."""

from __future__ import annotations

from textual.message import Message

from dashboard.health import Health
from dashboard.source import Batch


class BatchArrived(Message):
    """One poll's worth of records, already decoded: one message per poll, never per record.
    Batches carry data, so none may replace another; the model absorbs them and the widgets
    repaint on the app's timer, so a burst never reaches the widgets record by record."""

    def __init__(self, batch: Batch) -> None:
        super().__init__()
        self.batch = batch


class HealthChecked(Message):
    """A new look at the cluster. A newer one makes a pending older one pointless."""

    def __init__(self, health: Health) -> None:
        super().__init__()
        self.health = health

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HealthChecked)
