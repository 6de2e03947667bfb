"""``herald dashboard``: the app on the real source, from the settings.

It reads the broker the settings name (``HERALD_KAFKA_BOOTSTRAP``, or the embedded broker's
address, which ``herald up`` or ``herald broker`` runs); it never starts a broker itself.
"""

from __future__ import annotations

import logging

from textual.logging import TextualHandler

from config.settings import Settings
from dashboard.app import build_app
from dashboard.clock import SystemClock
from dashboard.kafka import KafkaSource
from dashboard.since import parse_since


def run_dashboard(settings: Settings, since: str | None = None) -> None:
    clock = SystemClock()
    start = parse_since(since, clock.now()) if since else None
    # aiokafka logs every failed reconnect; on the terminal that would tear the screen. The
    # dashboard shows the broker's state itself; the logs go to Textual's devtools console.
    logging.basicConfig(level=logging.WARNING, handlers=[TextualHandler()], force=True)
    source = KafkaSource(settings.bootstrap, since=start, clock=clock)
    build_app(source, clock).run()
