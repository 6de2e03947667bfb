"""The Litestar application: routes, auth, limits and error handling put together.

:func:`create_app` takes the producer from its caller (the real Kafka one from :func:`serve`,
an in-memory one in tests). The only state kept between requests is the one-second cache of
valid keys (:class:`api.auth.KeyCache`), so any number of ``herald api`` processes can run
behind a load balancer and a revoked key stops working on all of them within a second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from litestar import Litestar, Router
from litestar.di import Provide

from api.auth import KeyCache, provide_workspace_id, require_api_key
from api.errors import EXCEPTION_HANDLERS, add_request_id_header
from api.producer import KafkaSendProducer, SendProducer
from api.routes import emails, health, messages
from config.settings import Settings
from tables import database


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
                await producer.stop()
        finally:
            if engine is not None:
                await database.close(engine)

    v1 = Router(
        path="/v1",
        guards=[require_api_key(KeyCache())],
        dependencies={"workspace_id": Provide(provide_workspace_id)},
        route_handlers=[emails.send_email, messages.get_message],
    )
    return Litestar(
        route_handlers=[health.health, v1],
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "producer": Provide(lambda: producer, use_cache=True, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[add_request_id_header],
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        # The request body is decoded by hand (for precise field errors), so a generated
        # schema would be wrong about it: none is served.
        openapi_config=None,
        # Herald's entry point configures logging; errors are logged by api.errors.
        logging_config=None,
        debug=False,
    )


async def serve(settings: Settings) -> None:
    """Run the API with the Kafka producer until the server is stopped."""
    producer = KafkaSendProducer(
        settings.bootstrap, max_request_size=settings.max_body_bytes + 64 * 1024
    )
    app = create_app(settings, producer)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            access_log=False,
        )
    )
    await server.serve()
