"""Shared values of the API tests."""

from __future__ import annotations

from dataclasses import dataclass

MAX_BODY_BYTES = 32 * 1024


@dataclass(frozen=True)
class Tenant:
    workspace_id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}
