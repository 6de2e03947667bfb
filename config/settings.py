"""Herald's settings: typed, frozen, built once per process at each entry point.

Every field reads from an environment variable named ``HERALD_`` + the field name in upper case
(``HERALD_API_PORT``), or from the optional TOML file named by ``HERALD_CONFIG`` (same names in
lower case, top level). Environment wins over the file; the file wins over the defaults.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """One process's configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(env_prefix="HERALD_", frozen=True, extra="ignore")

    # --- where things live -------------------------------------------------------------------
    data_dir: Path = Field(
        Path(".herald"),
        description="Everything Herald keeps on disk: broker logs, table stores, SQLite, Maildir.",
    )

    # --- HTTP API ----------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(8080, ge=0, le=65535, description="Port the API listens on.")
    max_body_bytes: int = Field(
        10 * 1024 * 1024, gt=0, description="Largest request body accepted (413 above it)."
    )
    max_recipients: int = Field(
        50, gt=0, description="Most recipients (to + cc + bcc) on one send request."
    )
    tls_cert: Path | None = Field(
        None,
        description="PEM certificate (chain) file: with tls_key set, the API serves HTTPS "
        "and sends HSTS.",
    )
    tls_key: Path | None = Field(None, description="PEM private key file of tls_cert.")
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="CIDRs of reverse proxies whose X-Forwarded-For is believed, e.g. "
        '["10.0.0.0/8"]. Empty: the client address is always the socket peer.',
    )
    key_request_rate: float = Field(
        100.0,
        gt=0,
        description="Default API requests per second per key (token bucket refill); "
        "a workspace's plan overrides it.",
    )
    key_request_burst: int = Field(
        200, gt=0, description="Default token bucket size per key (the largest burst of requests)."
    )
    idempotency_ttl: float = Field(
        24 * 3600.0, gt=0, description="Seconds an Idempotency-Key and its first response are kept."
    )
    key_rotation_overlap: float = Field(
        24 * 3600.0, ge=0, description="Default seconds a rotated key keeps working."
    )

    # --- Kafka -------------------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        None,
        description="host:port[,host:port] of an existing Kafka cluster. Unset: Herald starts "
        "its embedded single-node broker and uses that.",
    )
    kafka_port: int = Field(9092, ge=0, le=65535, description="Client port of the embedded broker.")
    kafka_controller_port: int = Field(
        9093, ge=0, le=65535, description="KRaft controller port of the embedded broker."
    )
    kafka_cache_dir: Path = Field(
        Path.home() / ".cache" / "herald" / "kafka",
        description="Where the embedded broker's jars are cached (outside the repository).",
    )
    kafka_heap: str = Field("512m", description="Java heap (-Xmx) of the embedded broker.")
    topic_partitions: int = Field(
        8, gt=0, description="Partitions of each Herald topic when Herald creates it."
    )
    replication_factor: int = Field(
        1, gt=0, description="Replication of Herald's topics and changelogs (1 only when embedded)."
    )

    # --- database ----------------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="postgresql://user:pass@host:port/db or sqlite:///path. "
        "Unset: SQLite at <data_dir>/herald.sqlite3.",
    )

    # --- outbound mail -----------------------------------------------------------------------
    smtp_url: str | None = Field(
        None,
        description="Outbound relay: smtp://[user:pass@]host:port (STARTTLS when offered; "
        "?starttls=require to insist) or smtps://... (implicit TLS). Unset: the embedded "
        "capture server that writes a Maildir under the data dir.",
    )
    capture_smtp_port: int = Field(
        2525, ge=0, le=65535, description="Port of the embedded capture SMTP server."
    )
    smtp_pool_size: int = Field(
        8, gt=0, description="Most SMTP connections one worker keeps open to the relay."
    )
    smtp_timeout: float = Field(30.0, gt=0, description="Seconds before an SMTP command fails.")
    workspace_send_rate: float = Field(
        200.0, gt=0, description="Default sends per second per workspace (token bucket refill)."
    )
    workspace_send_burst: float = Field(
        400.0, gt=0, description="Default token bucket size per workspace (the largest burst)."
    )
    retry_schedule: tuple[float, ...] = Field(
        (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0),
        description="Seconds to wait before each retry of a deferred (4xx) delivery; after the "
        "last entry the wait stays at the last value until max_message_lifetime.",
    )
    max_message_lifetime: float = Field(
        72 * 3600.0, gt=0, description="Seconds after which a deferred delivery fails for good."
    )

    # --- bounces, tracking and unsubscribe ------------------------------------------------
    public_url: str | None = Field(
        None,
        description="Base URL recipients' mail clients reach the API at, for open/click "
        "tracking and unsubscribe links (e.g. https://mail.example.com). Unset: the API's own "
        "address (fine on one machine only).",
    )
    bounce_domain: str | None = Field(
        None,
        description="Domain whose MX is Herald's inbound listener (e.g. bounces.example.com). "
        "Set: each message's return path is a signed per-message (VERP) address there, so "
        "asynchronous bounces are tied to their message, and List-Unsubscribe offers a mailto. "
        "Unset: the return path is the From address.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Secret that signs tracking links, unsubscribe links and return paths "
        "(32+ random bytes, any text). Unset: generated once into <data_dir>/secret.key; "
        "processes on several machines must share one.",
    )
    inbound_host: str = Field("127.0.0.1", description="Address the inbound SMTP listener uses.")
    inbound_port: int = Field(
        2526, ge=0, le=65535, description="Port of the inbound SMTP listener (bounces, reports)."
    )
    inbound_max_bytes: int = Field(
        10 * 1024 * 1024,
        gt=0,
        description="Largest message the inbound listener takes (552 above it); reports "
        "quote the original, so leave room for the largest mail you send.",
    )

    # --- webhooks ---------------------------------------------------------------------------
    webhook_allow_loopback: bool = Field(
        False,
        description="Let webhook endpoints be on loopback (127.0.0.0/8, ::1), over plain HTTP "
        "too: for development and tests only. Every other non-public address stays refused.",
    )
    webhook_timeout: float = Field(
        15.0, gt=0, description="Seconds a webhook endpoint has to answer one request."
    )
    webhook_retry_schedule: tuple[float, ...] = Field(
        (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0),
        description="Seconds before each retry of a failed webhook delivery (the first try is "
        "immediate; each wait gets up to 10% jitter). After the last, the event goes to the "
        "endpoint's dead letter. The default spans about three days.",
    )
    webhook_disable_after: float = Field(
        5 * 24 * 3600.0,
        gt=0,
        description="Seconds an endpoint may fail without a single success before Herald "
        "disables it (recorded as a webhook_disabled event).",
    )
    webhook_secret_overlap: float = Field(
        24 * 3600.0,
        ge=0,
        description="Default seconds a rotated-out webhook secret keeps signing deliveries.",
    )

    # --- worker ------------------------------------------------------------------------------
    worker_batch: int = Field(
        256, gt=0, description="Most deliveries a worker dispatches as one batch."
    )
    workers: int = Field(
        1,
        gt=0,
        description="herald worker processes herald up runs: a worker uses one core, and the "
        "workers share the partitions.",
    )
    worker_dir: Path | None = Field(
        None,
        description="This worker's table stores (RocksDB). Unset: <data_dir>/worker. Each "
        "worker process on one machine needs its own.",
    )

    # --- operations --------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING", description="Least severe log lines the worker and the API write."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not an IP network (CIDR)") from exc
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("set both tls_cert and tls_key (HTTPS), or neither (plain HTTP)")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'herald.sqlite3').resolve()}"

    @property
    def effective_worker_dir(self) -> Path:
        return self.worker_dir or self.data_dir / "worker"

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.api_host}:{self.api_port}"

    @property
    def effective_smtp_url(self) -> str:
        return self.smtp_url or f"smtp://127.0.0.1:{self.capture_smtp_port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = os.environ.get("HERALD_CONFIG")
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings for this process (entry points call this once and pass it down)."""
    return Settings(**overrides)
