"""CPU time the stack's processes spend over a stretch of load, and how busy the machine was.

On a machine whose cores the load generator, broker, API and workers share, a rate alone does
not say what bounds it: the CPU each process spent per request or per email does. Read from
the kernel's counters at both ends of the stretch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil


@dataclass
class CpuUse:
    seconds: dict[str, float] = field(default_factory=dict)  # CPU each process spent
    cores: float = 0.0  # cores kept busy on average, by anything on the machine

    def per(self, name: str, count: float, unit: float = 1e6) -> float:
        """``name``'s CPU per item of ``count`` (microseconds by default; 1e3 for ms)."""
        return self.seconds[name] / count * unit if count else 0.0


@contextlib.contextmanager
def cpu_use(pids: dict[str, int]) -> Iterator[CpuUse]:
    """``with cpu_use({"api": pid, ...}) as use:`` ... then ``use.seconds["api"]``,
    ``use.cores``; filled in when the block ends."""
    start = {name: _spent(pid) for name, pid in pids.items()}
    busy, total = _machine()
    use = CpuUse()
    yield use
    use.seconds = {name: _spent(pid) - start[name] for name, pid in pids.items()}
    busy_end, total_end = _machine()
    if total_end > total:
        use.cores = (busy_end - busy) / (total_end - total) * (os.cpu_count() or 1)


def _spent(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def _machine() -> tuple[float, float]:
    """Seconds of CPU spent busy and in all, summed over the cores."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = float(sum(t))
    return total - idle, total
