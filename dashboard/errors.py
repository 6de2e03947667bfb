"""Errors the dashboard raises before it starts; the ``herald`` command prints them and exits
with status 2 (they are configuration errors)."""

from __future__ import annotations

from config.errors import HeraldConfigError


class DashboardError(HeraldConfigError):
    """The dashboard cannot start as asked. Read the message and fix the command line."""


class SinceInvalid(DashboardError):
    """``--since`` is neither a duration (``90s``, ``15m``, ``2h``, ``1d``) nor an RFC 3339
    time (``2025-05-01T12:00:00Z``). Give it in one of those forms."""


class FilterInvalid(ValueError):
    """A filter typed in the dashboard names an unknown field or event type; the dashboard
    shows the message and keeps the previous filter."""
