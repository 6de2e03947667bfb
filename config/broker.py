"""The embedded single-node Apache Kafka broker (KRaft) behind ``herald up``, ``herald broker``
and the integration tests.

Its jars come from Maven Central through ``config/kafka/pom.xml`` into a cache outside the
repository (``kafka_cache_dir``); its state lives under ``<data_dir>/kafka``: the generated
``server.properties``, the cluster id, ``broker.log`` and the log dirs under ``data/``.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import fcntl
import functools
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from types import TracebackType

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from config.errors import BrokerFailed, JarDownloadFailed, MissingTool
from config.settings import Settings

POM = Path(__file__).parent / "kafka" / "pom.xml"
MIN_JAVA = 17
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0

_JAVA_HINT = (
    "install it (Debian: apt-get install openjdk-17-jre-headless) "
    "or set HERALD_KAFKA_BOOTSTRAP to an existing cluster."
)


def kafka_version() -> str:
    """The Kafka version the pom pins; the jar cache is keyed by it."""
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if found is None:
        raise JarDownloadFailed(f"{POM} names no <kafka.version>; restore the file from git.")
    return found.group(1).strip()


def require_java() -> str:
    """Path of a ``java`` that is 17 or newer (Kafka 4 runs on nothing older)."""
    java = shutil.which("java")
    if java is None:
        raise MissingTool(
            f"Java {MIN_JAVA} or newer is needed to run the embedded Kafka broker: {_JAVA_HINT}"
        )
    major = _java_major(java)
    if major < MIN_JAVA:
        raise MissingTool(
            f"Java {MIN_JAVA} or newer is needed to run the embedded Kafka broker, "
            f"but {java} is Java {major}: {_JAVA_HINT}"
        )
    return java


@functools.cache
def _java_major(java: str) -> int:
    # `java -version` writes to stderr: `openjdk version "17.0.15"`, or `"1.8.0_392"` up to 8.
    out = subprocess.run(  # noqa: S603 - the java found on PATH, fixed arguments
        [java, "-version"], capture_output=True, text=True, check=False
    )
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if found is None:
        return 0
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def ensure_jars(settings: Settings) -> Path:
    """Resolve the broker's jars into ``<kafka_cache_dir>/<version>/libs`` unless a complete copy
    for the current pom is already there, and return that directory."""
    require_java()  # jars nothing can run are not worth downloading
    version = kafka_version()
    home = settings.kafka_cache_dir.expanduser() / version
    libs = home / "libs"
    # The marker holds the pom's digest: an interrupted download or an edited pom means redo.
    marker = home / "libs.complete"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two first starts at once download once
        if marker.is_file() and marker.read_text() == digest:
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise MissingTool(
                "Maven is needed once to download the embedded Kafka broker's jars: install it "
                "(Debian: apt-get install maven) or set HERALD_KAFKA_BOOTSTRAP to an existing "
                "cluster."
            )
        marker.unlink(missing_ok=True)
        shutil.rmtree(libs, ignore_errors=True)  # stale jars would shadow the new ones
        done = subprocess.run(  # noqa: S603 - the mvn found on PATH, our own pom
            [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
             f"-DoutputDirectory={libs}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise JarDownloadFailed(
                f"Maven could not download the Kafka {version} jars (exit {done.returncode}):\n"
                + _tail(done.stdout + done.stderr)
            )
        marker.write_text(digest)
    return libs


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def new_cluster_id() -> str:
    """A cluster id as ``kafka-storage random-uuid`` makes one: 16 random bytes, base64url
    without padding, never starting with ``-`` (it would read as a command-line option)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def server_properties(settings: Settings, log_dir: Path) -> str:
    """A single node that is both broker and controller, sized for one machine."""
    port, controller = settings.kafka_port, settings.kafka_controller_port
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        # A dynamic quorum (formatted with --standalone) takes bootstrap servers, not voters.
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller}",
        "log.dirs": str(log_dir),
        "num.partitions": str(settings.topic_partitions),
        "auto.create.topics.enable": "false",
        # Internal topics default to replication 3: unreachable with one node.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "share.coordinator.state.topic.num.partitions": "1",
        # No 3 s wait before the first consumer group rebalance: tests and `herald up` feel it.
        "group.initial.rebalance.delay.ms": "0",
        # The default 128 MiB cleaner buffer would take a quarter of a 512 MiB heap.
        "log.cleaner.dedupe.buffer.size": "8388608",
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


# Console output goes to broker.log (the process's stdout): warnings, plus the one line that
# says the server started. Kafka's own INFO chatter is thousands of lines per start.
LOG4J2_PROPERTIES = """\
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.console.ref = console
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


async def cluster_id_at(bootstrap: str) -> str | None:
    """The cluster id of the Kafka answering at ``bootstrap``, or None while none answers."""
    # A plain TCP connect first: aiokafka logs an error for every refused bootstrap attempt.
    if not await _any_port_open(bootstrap):
        return None
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    except (KafkaError, OSError, TimeoutError):
        return None
    finally:
        await admin.close()
    return str(cluster["cluster_id"]) if cluster.get("brokers") else None


async def _any_port_open(bootstrap: str) -> bool:
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2)
        except (OSError, TimeoutError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


# The deadline is a parameter, not the caller's asyncio.timeout, so that running out of it
# becomes an operator's message rather than a bare TimeoutError.
async def wait_for_kafka(bootstrap: str, timeout: float) -> None:  # noqa: ASYNC109
    """Return once a Kafka cluster answers at ``bootstrap``; raise BrokerFailed after
    ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await cluster_id_at(bootstrap) is None:
        if loop.time() > deadline:
            raise BrokerFailed(
                f"No Kafka answered at {bootstrap} within {timeout:.0f} s: start it, or check "
                "HERALD_KAFKA_BOOTSTRAP."
            )
        await asyncio.sleep(0.25)


def _check_port_free(port: int, setting: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise BrokerFailed(
                f"Port {port} on 127.0.0.1 is already in use (an earlier broker still running?): "
                f"stop that process or set {setting} to a free port."
            ) from None


class EmbeddedBroker:
    """One Kafka JVM on 127.0.0.1. ``await start()`` returns once it serves clients;
    ``await stop()`` shuts it down. Also an async context manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.data_dir.resolve() / "kafka"
        self.log_path = self.home / "broker.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_port}"

    @property
    def pid(self) -> int | None:
        """The JVM's process id while it runs."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    async def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError("the embedded broker is already running")
        java = await asyncio.to_thread(require_java)
        libs = await asyncio.to_thread(ensure_jars, self.settings)
        _check_port_free(self.settings.kafka_port, "HERALD_KAFKA_PORT")
        _check_port_free(self.settings.kafka_controller_port, "HERALD_KAFKA_CONTROLLER_PORT")
        self.home.mkdir(parents=True, exist_ok=True)
        data = self.home / "data"
        (self.home / "server.properties").write_text(server_properties(self.settings, data))
        (self.home / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        cluster_id = self._cluster_id()
        if not (data / "meta.properties").is_file():
            await self._format(java, libs, cluster_id)
        self._launch(java, libs)
        try:
            await self._wait_ready(cluster_id)
        except BaseException:
            await self.stop()
            raise

    def _cluster_id(self) -> str:
        # Kept beside the data: a restart must present the id the log dirs were formatted with.
        path = self.home / "cluster.id"
        if not path.is_file():
            path.write_text(new_cluster_id())
        return path.read_text().strip()

    async def _format(self, java: str, libs: Path, cluster_id: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            java, "-cp", str(libs / "*"), "kafka.tools.StorageTool", "format", "--standalone",
            "-t", cluster_id, "-c", str(self.home / "server.properties"),
            cwd=self.home, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise BrokerFailed(
                f"Formatting the embedded Kafka broker's storage in {self.home / 'data'} failed "
                f"(exit {proc.returncode}); delete that directory to start afresh:\n"
                + _tail(out.decode(errors="replace"))
            )

    def _launch(self, java: str, libs: Path) -> None:
        if self.log_path.exists():
            os.replace(self.log_path, self.log_path.with_suffix(".log.1"))
        heap = self.settings.kafka_heap
        command = [
            java, f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            # The JIT's quick tier only. On a machine the broker shares with Herald's
            # processes, the optimising tier's compiling took more of the broker's CPU than
            # the requests did for its first minutes, and its code did not win it back after
            # (BENCHMARKS.md, eleventh push).
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp", str(libs / "*"), "kafka.Kafka", str(self.home / "server.properties"),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            # Same process group on purpose: Ctrl-C in a terminal reaches the JVM too.
            self._proc = subprocess.Popen(  # noqa: S603 - our own java and arguments
                command, cwd=self.home, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        # Should the owner never reach stop() (an error on the way out), the JVM still dies.
        atexit.register(self._proc.kill)

    async def _wait_ready(self, cluster_id: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while True:
            if (code := self._exit_code()) is not None:
                raise BrokerFailed(
                    f"The embedded Kafka broker exited with code {code} while starting; "
                    f"the end of {self.log_path}:\n{self._log_tail()}"
                )
            answered = await cluster_id_at(self.bootstrap)
            if answered == cluster_id:
                return
            if answered is not None:
                raise BrokerFailed(
                    f"Another Kafka cluster ({answered}) answers on {self.bootstrap}: stop it or "
                    "set HERALD_KAFKA_PORT to a free port."
                )
            if loop.time() > deadline:
                raise BrokerFailed(
                    f"The embedded Kafka broker did not serve {self.bootstrap} within "
                    f"{READY_TIMEOUT:.0f} s; the end of {self.log_path}:\n{self._log_tail()}"
                )
            await asyncio.sleep(0.25)

    def _exit_code(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def _log_tail(self) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return "(no log)"

    async def wait(self) -> int:
        """Wait until the broker exits, by stop() or on its own; return its exit code."""
        # Polled: an exit notification would need a loop-bound child watcher, and the broker
        # may be started in one event loop and stopped in another (session test fixtures).
        proc = self._proc
        if proc is None:
            raise RuntimeError("the embedded broker was never started")
        while (code := proc.poll()) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        return code

    async def stop(self) -> None:
        """SIGTERM (Kafka's clean shutdown), then SIGKILL after ``STOP_TIMEOUT`` seconds."""
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(proc.wait, STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
        except BaseException:
            proc.kill()  # cancelled while waiting: do not leave the JVM behind
            raise
        finally:
            proc.wait()  # reap; immediate once the JVM is gone or killed
            atexit.unregister(proc.kill)

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def run_broker(settings: Settings) -> None:
    """``herald broker``: run the embedded broker until SIGINT or SIGTERM."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    broker = EmbeddedBroker(settings)
    try:
        try:
            await broker.start()
        except BrokerFailed:
            if stopping.is_set():  # Ctrl-C while starting also reached the JVM: not a failure
                return
            raise
        print(f"Kafka ready at {broker.bootstrap}", file=sys.stderr, flush=True)
        exited = asyncio.ensure_future(broker.wait())
        stop = asyncio.ensure_future(stopping.wait())
        await asyncio.wait([exited, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if exited.done() and not stopping.is_set():
            raise BrokerFailed(
                f"The embedded Kafka broker exited on its own with code {exited.result()}; "
                f"see {broker.log_path}."
            )
        exited.cancel()
    finally:
        await broker.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
