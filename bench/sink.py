"""Postfix's ``smtp-sink`` as the relay, counting what it accepted; ``smtp-source`` as the
baseline sender into it.

``smtp-sink -c`` prints a running ``mesg=N`` counter each time a message's final "." is
received, so the bench reads the moment the last message was accepted by the relay itself,
not when the database heard about it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

_COUNTER = re.compile(rb"mesg=(\d+)")


def require(tool: str, package: str) -> str:
    path = shutil.which(tool) or (
        f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None
    )
    if not path:
        sys.exit(f"make bench needs {tool}: install it with `apt-get install {package}`")
    return path


class Sink:
    """``smtp-sink`` on ``127.0.0.1:port`` with up to ``backlog`` waiting connections."""

    def __init__(self, port: int, backlog: int = 256) -> None:
        self.port = port
        self.url = f"smtp://127.0.0.1:{port}"
        self.accepted = 0
        self._at: dict[int, float] = {}  # count -> when it was first reached
        self._changed = threading.Condition()
        sink = require("smtp-sink", "postfix")
        self._proc = subprocess.Popen(
            [sink, "-c", "-u", "nobody", f"127.0.0.1:{port}", str(backlog)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while chunk := self._proc.stdout.read1(65536):  # type: ignore[attr-defined]
            now = time.monotonic()
            counts = _COUNTER.findall(chunk)
            if counts:
                with self._changed:
                    self.accepted = int(counts[-1])
                    self._at.setdefault(self.accepted, now)
                    self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> float:
        """The monotonic time the relay had accepted ``count`` messages; fails after
        ``timeout`` seconds without getting there."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.accepted < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the relay accepted {self.accepted} of {count} messages")
                self._changed.wait(min(left, 1.0))
            return min(at for n, at in self._at.items() if n >= count)

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)


def smtp_source(port: int, messages: int, size: int, sessions: int = 32) -> float:
    """Postfix's ``smtp-source`` sending ``messages`` of ``size`` bytes over ``sessions``
    parallel connections kept open between messages (as Herald's pool does); seconds taken."""
    cmd = [
        require("smtp-source", "postfix"),
        "-m", str(messages), "-s", str(sessions), "-l", str(size), "-N", "-d",
        "-f", "bench@example.com", "-t", "sink@example.com", f"127.0.0.1:{port}",
    ]  # fmt: skip
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.monotonic() - t0
