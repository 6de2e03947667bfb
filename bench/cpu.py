"""CPU time the stack's processes spend over a stretch of load, and how busy the machine was.

On a machine whose cores the load generator, broker, API and workers share, a rate alone does
not say what bounds it: the CPU each process spent per request or per email does. Read from
the kernel's counters at both ends of the stretch.
"""

from __future__ import annotations

import os
from types import TracebackType

import psutil


def _spent(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def _machine() -> tuple[float, float]:
    """Seconds of CPU spent busy and in all, summed over the cores."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = float(sum(t))
    return total - idle, total


class CpuUse:
    """``with CpuUse({"api": pid, ...}) as use:`` ... then ``use.seconds["api"]`` and
    ``use.cores`` (cores kept busy on average, by anything on the machine)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.seconds = dict.fromkeys(pids, 0.0)
        self.cores = 0.0
        self._start: dict[str, float] = {}
        self._machine = (0.0, 0.0)

    def __enter__(self) -> CpuUse:
        self._start = {name: _spent(pid) for name, pid in self.pids.items()}
        self._machine = _machine()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for name, pid in self.pids.items():
            self.seconds[name] = _spent(pid) - self._start[name]
        busy, total = _machine()
        elapsed = total - self._machine[1]
        if elapsed > 0:
            self.cores = (busy - self._machine[0]) / elapsed * (os.cpu_count() or 1)

    def per(self, name: str, count: float, unit: float = 1e6) -> float:
        """``name``'s CPU per item of ``count`` (microseconds by default; 1e3 for ms)."""
        return self.seconds[name] / count * unit if count else 0.0
