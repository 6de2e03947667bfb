"""``herald worker``: the Faust worker running every agent."""

from __future__ import annotations

import faust

from agents.app import build_worker
from agents.mailer import parse_smtp_url
from agents.smtp import SmtpPoolMailer
from config.settings import Settings


def run_worker(settings: Settings) -> None:
    target = parse_smtp_url(settings.effective_smtp_url)
    mailer = SmtpPoolMailer(target, size=settings.smtp_pool_size, timeout=settings.smtp_timeout)
    worker = build_worker(settings, mailer)
    # Faust's Worker owns the event loop and turns SIGTERM/SIGINT into a clean stop.
    faust.Worker(worker.app, loglevel="WARNING", quiet=True).execute_from_commandline()
