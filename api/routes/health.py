"""``GET /health``: liveness, no key needed."""

from __future__ import annotations

from litestar import get

from api.schemas import Health


@get("/health", sync_to_thread=False, security=[], tags=["health"])
def health() -> Health:
    """Liveness: the process answers. Needs no key."""
    return Health(status="ok")
