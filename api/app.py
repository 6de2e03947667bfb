"""The Litestar application: routes, auth, limits and error handling put together.

:func:`create_app` takes the producer from its caller (the real Kafka one from :func:`serve`,
an in-memory one in tests). The only state a process keeps between requests is its sub-second
cache of valid keys (:class:`api.auth.KeyCache`) and the rate-limit tokens it leased from the
shared buckets (:mod:`api.ratelimit`); everything else is in the database, so any number of
``herald api`` processes can run behind a load balancer: a revoked key stops working on all of
them within a second, and a key's limit holds for all of them together.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from litestar import Litestar, Router
from litestar.di import Provide

from api.auth import (
    Admit,
    KeyCache,
    add_rate_limit_headers,
    provide_caller,
    provide_workspace_id,
)
from api.client_ip import Proxies, parse_networks
from api.errors import EXCEPTION_HANDLERS, add_request_id_header
from api.https import check_tls_files, https_hooks
from api.openapi import openapi_config, openapi_json
from api.producer import KafkaSendProducer, SendProducer
from api.ratelimit import KeyLimiter
from api.routes import api_keys, emails, events, health, messages, tracking, workspace
from api.routes.suppressions import SuppressionsController
from api.routes.webhooks import WebhooksController
from api.send_lane import send_lane
from config.secrets import signing_key
from config.settings import Settings
from streams.webhook_secrets import Sealer
from tables import database
from tables.plans import Limits


def create_app(settings: Settings, producer: SendProducer, *, manage_db: bool = True) -> Litestar:
    """The API. On startup it opens the database (unless ``manage_db`` is False: the caller
    did) and starts the producer; on shutdown it stops both."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        engine = await database.connect(settings) if manage_db else None
        try:
            await producer.start()
            try:
                yield
            finally:
                await cache.close()
                await producer.stop()
        finally:
            if engine is not None:
                await database.close(engine)

    defaults = Limits(
        key_rate=settings.key_request_rate,
        key_burst=settings.key_request_burst,
        send_rate=settings.workspace_send_rate,
        send_burst=int(settings.workspace_send_burst),
    )
    trusted = parse_networks(settings.trusted_proxies)
    proxies = Proxies(trusted)
    key = signing_key(settings)
    sealer = Sealer(key)
    cache = KeyCache(defaults)
    admit = Admit(cache, KeyLimiter(), trusted)
    intake = emails.Intake(producer, settings)
    v1 = Router(
        path="/v1",
        guards=[admit.guard()],
        middleware=[send_lane(admit, intake)],
        dependencies={
            "caller": Provide(provide_caller),
            "workspace_id": Provide(provide_workspace_id),
        },
        route_handlers=[
            emails.send_email,
            emails.send_batch,
            messages.get_message,
            events.list_events,
            events.message_events,
            api_keys.ApiKeysController,
            SuppressionsController,
            WebhooksController,
            workspace.get_workspace,
            workspace.change_workspace,
        ],
    )
    return Litestar(
        route_handlers=[
            health.health,
            tracking.open_pixel,
            tracking.click,
            tracking.unsubscribe_page,
            tracking.unsubscribe,
            openapi_json,
            v1,
        ],
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "producer": Provide(lambda: producer, use_cache=True, sync_to_thread=False),
            "intake": Provide(lambda: intake, use_cache=True, sync_to_thread=False),
            # Worked out once per process: the proxies whose X-Forwarded-For is believed, and
            # the key that signs tracking links.
            "trusted": Provide(lambda: proxies, use_cache=True, sync_to_thread=False),
            "signing_key": Provide(lambda: key, use_cache=True, sync_to_thread=False),
            # Seals webhook secrets (its key is derived once from the server key).
            "sealer": Provide(lambda: sealer, use_cache=True, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[add_request_id_header, add_rate_limit_headers, *https_hooks(settings.tls)],
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        # Bodies decoded by hand are documented by the routes (api.openapi.body_documented_as).
        openapi_config=openapi_config(),
        # Herald's entry point configures logging; errors are logged by api.errors.
        logging_config=None,
        debug=False,
    )


async def serve(settings: Settings) -> None:
    """Run the API with the Kafka producer until the server is stopped; over HTTPS when a
    certificate and key are configured (checked first, so a bad pair is one clear error)."""
    if settings.tls_cert is not None and settings.tls_key is not None:
        check_tls_files(settings.tls_cert, settings.tls_key)
    logging.basicConfig(
        level=settings.log_level, format="[%(asctime)s] [%(levelname)s] %(message)s"
    )
    producer = KafkaSendProducer(
        settings.bootstrap, max_request_size=settings.max_body_bytes + 64 * 1024
    )
    app = create_app(settings, producer)
    # What is built at start (the app, its routes and OpenAPI schema, the libraries) lives as
    # long as the process: kept out of the collector's full passes, which otherwise stop every
    # request in flight while they walk it (p99 at half load 21-36 ms without, 15-16 with).
    gc.freeze()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_level=settings.log_level.lower(),
            access_log=False,
            # uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; Herald decides
            # which proxies to believe itself (HERALD_TRUSTED_PROXIES, api.client_ip).
            proxy_headers=False,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
        )
    )
    await server.serve()
