"""The app the snapshot tests (and docs/dashboard.svg) show: the sample stream on a frozen
clock. ``snap_compare`` imports this file afresh for every snapshot."""

from dashboard.app import build_app
from tests.dashboard import sample

app = build_app(sample.source(), sample.clock(), health_every=0.05)
