"""``herald worker``: the Faust worker running every agent."""

from __future__ import annotations

import asyncio

import faust
import mode.loop

from agents.app import build_worker
from agents.smtp import SmtpPoolMailer
from config.settings import Settings
from streams.admin import ensure_topics
from streams.topics import all_topics


def run_worker(settings: Settings) -> None:
    # uvloop for every loop this process makes: the loop's own part of each record's hops
    # (tasks, callbacks, socket writes) costs less, 8-15% of the worker (BENCHMARKS.md).
    mode.loop.use("uvloop")
    # Herald's topics with their own settings (compaction), before Faust would make defaults.
    asyncio.run(ensure_topics(settings, all_topics(len(settings.retry_schedule))))
    # The mailer signs tracking links and return paths with the key every process shares.
    mailer = SmtpPoolMailer.from_settings(settings)
    worker = build_worker(settings, mailer)
    # Faust's Worker owns the event loop and turns SIGTERM/SIGINT into a clean stop.
    runner = faust.Worker(worker.app, loglevel=settings.log_level, quiet=True)
    # Faust's progress spinner sets the root logger to DEBUG, so every debug line of aiokafka
    # (one per produced record) would be formatted for nothing: about 5% of the worker's time.
    runner.spinner = None
    runner.execute_from_commandline()
