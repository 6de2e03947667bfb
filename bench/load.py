"""HTTP load with wrk (keep-alive, 2 threads): at saturation, at a fixed rate, and as a burst
of exactly N distinct sends.

Saturation takes 64 connections, the rest 32. A send waits for the broker's acknowledgement,
and the API's producer has one produce request in flight at a time, carrying the sends that
arrived while the one before it was out: with 32 clients those requests were smaller, so each
send cost the API and the broker more CPU than with 64. ``GET /health`` is as fast with either
(BENCHMARKS.md, seventeenth push).

wrk has no fixed-rate mode; a Lua ``delay()`` before each request, on average
``connections / rate`` seconds, holds every connection to its share of the rate, which is what
"at half load" needs (latency measured on an unsaturated server, not queueing in front of a
saturated one). The delays are drawn at random (exponentially, so arrivals are as
independent as many clients' are): a fixed delay kept connections in step, because the
broker acknowledges the sends of one produce request together, their connections then came
back at the same moment, and the server saw bursts instead of a rate (BENCHMARKS.md,
fourteenth push).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson

THREADS = 2
CONNECTIONS = 32
SATURATING = 64
UNANSWERED_AFTER = 5000  # GET /health answers a burst thread waits for a missing send


def _one_recipient_each(body: dict[str, Any], prefix: str) -> str:
    """``body`` as JSON for Lua's ``string.format``, its ``to`` a ``%d.%d`` address (thread,
    request) so that every request has its own recipient."""
    return orjson.dumps({**body, "to": [f"{prefix}%d.%d@example.com"]}).decode()


def post_script(path: Path, key: str, body: dict[str, Any], rate: float | None = None) -> Path:
    """A wrk script that POSTs ``body`` to ``/v1/emails`` with ``key``, each request to its own
    recipient (as a campaign sends: one address's mail all lands on one partition, and the API
    caches the validation of an address it has seen); at ``rate`` req/s in all if given."""
    template = _one_recipient_each(body, "load")
    lines = [
        "local next_id = 0",
        "function setup(thread) thread:set('id', next_id); next_id = next_id + 1 end",
        "local headers = {['Content-Type'] = 'application/json',"
        f" ['Authorization'] = 'Bearer {key}'}}",
        "local n = 0",
        "function request()",
        "  n = n + 1",
        f"  return wrk.format('POST', '/v1/emails', headers, string.format([[{template}]], id, n))",
        "end",
    ]
    if rate:
        lines += [
            "function init(args) math.randomseed(os.time() * 1000 + id) end",
            f"local mean_ms = {CONNECTIONS * 1000 / rate:.3f}",
            "function delay() return -mean_ms * math.log(1 - math.random()) end",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def burst(
    url: str, key: str, body: dict[str, Any], n: int, work: Path, timeout: float = 120
) -> dict[str, int]:
    """Send exactly ``n`` sends, each to its own recipient, then stop; how many got a 202, how
    many another answer, and how many none (a connection error: wrk drops the request).

    wrk runs for a duration, not a count: each thread sends its share, writes its counts to a
    file and stops; wrk itself only ends at its duration, so it gets SIGINT (on which it stops
    and reports) once every thread has written."""
    template = _one_recipient_each(body, "burst")
    counts = work / "burst-counts"
    counts.mkdir(exist_ok=True)
    script = work / "burst.lua"
    script.write_text(
        f"""
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  thread:set("limit", {n // THREADS} + (next_id < {n % THREADS} and 1 or 0))
  next_id = next_id + 1
end
local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}"}}
local sent, accepted, refused, after = 0, 0, 0, 0
function request()
  if sent >= limit then return wrk.format("GET", "/health") end
  sent = sent + 1
  return wrk.format("POST", "/v1/emails", headers, string.format([[{template}]], id, sent))
end
function response(status, headers, body)
  if status == 202 then accepted = accepted + 1
  elseif status == 200 then after = after + 1
  else refused = refused + 1 end
  -- A send lost to a connection error never reaches response(): once every connection has
  -- long moved on to GET /health, whatever is still missing is not coming.
  if accepted + refused == limit or after >= {UNANSWERED_AFTER} then
    local f = io.open("{counts}/" .. id, "w")
    f:write(accepted .. " " .. refused)
    f:close()
    wrk.thread:stop()
  end
end
"""
    )
    # A request wrk gives up on never reaches response(), so its thread would never finish:
    # the timeout is far beyond any answer a working API gives.
    cmd = ["wrk", "-s", str(script), f"-t{THREADS}", f"-c{CONNECTIONS}", "-d3600s"]
    cmd += ["--timeout", f"{timeout:.0f}s", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + n / 10 + 2 * timeout  # even at 10 sends/s
    try:
        while len(list(counts.iterdir())) < THREADS:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the burst did not finish (wrk exit {proc.returncode})")
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    totals = [sum(int(f.read_text().split()[i]) for f in counts.iterdir()) for i in (0, 1)]
    return {"accepted": totals[0], "refused": totals[1], "unanswered": n - sum(totals)}


def wrk(
    url: str, script: Path | None, seconds: float, connections: int = CONNECTIONS
) -> dict[str, float]:
    """Run wrk; req/s, request count, p50/p99 in ms and the non-2xx count."""
    cmd = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    }
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        if m:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            result[f"p{pct}"] = float(m.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["errors"] = float(errors.group(1)) if errors else 0.0
    return result
