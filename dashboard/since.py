"""``--since``: where in the past the log starts (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from dashboard.errors import SinceInvalid

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_since(text: str, now: float) -> float:
    """Epoch seconds for ``15m``, ``2h``, ``1d``, ``90s`` (ago) or an RFC 3339 time
    (UTC when it names no zone)."""
    text = text.strip()
    duration = _DURATION.fullmatch(text.lower())
    if duration:
        return now - float(duration.group(1)) * _UNITS[duration.group(2)]
    try:
        when = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError as exc:
        raise SinceInvalid(
            f"--since {text!r}: give a duration (90s, 15m, 2h, 1d) or a time (2025-05-01T12:00:00Z)"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when.timestamp() > now:
        raise SinceInvalid(f"--since {text!r} is in the future")
    return when.timestamp()
