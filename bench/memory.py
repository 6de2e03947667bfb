"""Resident memory of the stack's processes: now, and the peak over a stretch of load.

The peak is sampled every 100 ms in a thread, so a short spike between samples can be missed;
for a process that grows with its backlog (buffers, caches) the sampled peak is what matters.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType

import psutil

MIB = 2**20


def rss_mib(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / MIB


class Peak:
    """``with Peak({"api": pid, ...}) as peak:`` ... ``peak.mib["api"]``."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.mib = {name: 0.0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            for name, pid in self.pids.items():
                with contextlib.suppress(psutil.Error):  # ended: its peak so far stands
                    self.mib[name] = max(self.mib[name], rss_mib(pid))
            if self._stop.wait(0.1):
                return

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
