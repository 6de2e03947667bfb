"""Herald's settings: typed, frozen, built once per process at each entry point.

Every field reads from an environment variable named ``HERALD_`` + the field name in upper case
(``HERALD_API_PORT``), or from the optional TOML file named by ``HERALD_CONFIG`` (same names in
lower case, top level). Environment wins over the file; the file wins over the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
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

    # --- worker ------------------------------------------------------------------------------
    worker_batch: int = Field(
        256, gt=0, description="Most deliveries a worker dispatches as one batch."
    )

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'herald.sqlite3').resolve()}"

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

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
