"""``python -m bench.profile``: where the worker's time goes while it drains a backlog.

Ingests sends with wrk for a few seconds (the worker stopped), starts ``herald worker`` on the
backlog, records it with py-spy once it runs steadily, and prints the steady drain rate and the
heaviest frames of its main thread (inclusive share of the samples). Not part of ``make bench``:
py-spy slows the worker it samples, so the rate printed here is lower than the bench's.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.load import post_script, wrk
from bench.stack import broker_and_sink, start_api
from tests.support.seed import SEED

INGEST_SECONDS = int(os.environ.get("HERALD_PROFILE_INGEST", "6"))
RECORD_SECONDS = 30
WARM_UP = 8.0  # seconds after the worker starts: recovery and the first rebalance are over
PY_SPY = Path(sys.executable).parent / "py-spy"


def heaviest(raw: Path, top: int = 40) -> list[tuple[float, str]]:
    """The frames of the main thread in py-spy's raw output by inclusive share, heaviest first,
    leaving out those in every sample (the entry point and the event loop itself)."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if "run_worker" not in stack:  # the main thread runs the worker; the rest wait
            continue
        total += int(n)
        frames = {re.sub(r":\d+\)", ")", frame) for frame in stack.split(";")}
        for frame in frames:
            counts[frame] += int(n)
    shares = [(n / total, frame) for frame, n in counts.most_common() if n < 0.99 * total]
    return shares[:top]


async def main() -> None:
    async with broker_and_sink("herald-profile-") as (settings, sink, work, _):
        stack = start_api(settings, sink, work)
        try:
            await stack.wait_api()
            script = post_script(work / "post.lua", stack.key, SEED)
            ingest = wrk(f"{stack.url}/v1/emails", script, INGEST_SECONDS)
            backlog = int(ingest["requests"] - ingest["errors"])
            before = sink.accepted
            stack.start("worker")
            await asyncio.sleep(WARM_UP)
            raw = work / "worker.txt"
            pid = str(stack.procs["worker"].pid)
            record = ["record", "-p", pid, "-d", str(RECORD_SECONDS), "-r", "200"]
            spy = subprocess.Popen(
                [PY_SPY, *record, "--format", "raw", "-o", str(raw)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            first = await asyncio.to_thread(sink.wait_for, before + 1, 900)
            last = await asyncio.to_thread(sink.wait_for, before + backlog, 900)
            await asyncio.to_thread(spy.wait)
        finally:
            stack.stop_all()
        print(f"drained {backlog:,} sends at {backlog / (last - first):,.0f} emails/s")
        for share, frame in heaviest(raw):
            print(f"{share:6.1%}  {frame}")


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main())
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
