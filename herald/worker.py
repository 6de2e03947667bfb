"""``herald worker``: the Faust worker running every agent."""

from __future__ import annotations

import faust

from agents.app import build_worker
from agents.smtp import SmtpPoolMailer
from config.settings import Settings


def run_worker(settings: Settings) -> None:
    # The mailer signs tracking links and return paths with the key every process shares.
    mailer = SmtpPoolMailer.from_settings(settings)
    worker = build_worker(settings, mailer)
    # Faust's Worker owns the event loop and turns SIGTERM/SIGINT into a clean stop.
    faust.Worker(worker.app, loglevel="WARNING", quiet=True).execute_from_commandline()
