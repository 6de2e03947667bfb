"""Shared values of the API tests."""

from __future__ import annotations

from dataclasses import dataclass

MAX_BODY_BYTES = 32 * 1024
MISSING_MESSAGE = "/v1/messages/msg_00000000000000000000000000"  # a well-formed id never sent


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Tenant:
    workspace_id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.key)
