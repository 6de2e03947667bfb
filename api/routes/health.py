"""``GET /health``: liveness, no key needed."""

from __future__ import annotations

from litestar import get

from api.openapi import Public, returns
from api.schemas import Health


@get(
    "/health",
    sync_to_thread=False,
    operation_class=Public,
    tags=["health"],
    summary="Liveness",
    description="Answers while the process runs. Needs no key.",
    responses=returns(Health, Health(status="ok"), "The process answers."),
)
def health() -> Health:
    """Liveness: the process answers. Needs no key."""
    return Health(status="ok")
