"""What an operator sees when the embedded broker cannot run on this machine."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from config.broker import (
    EmbeddedBroker,
    ensure_jars,
    kafka_version,
    new_cluster_id,
    server_properties,
)
from config.errors import HeraldConfigError, MissingTool
from config.settings import Settings, load_settings


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory that is the whole PATH: no java, no mvn."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", kafka_cache_dir=tmp_path / "cache")


def fake_java(bin_dir: Path, version: str) -> None:
    java = bin_dir / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2024-01-16' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)


def assert_one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message.endswith(".")
    assert ". " not in message


def test_missing_java_stops_jar_download(bin_dir: Path, settings: Settings) -> None:
    with pytest.raises(MissingTool) as missing:
        ensure_jars(settings)
    message = str(missing.value)
    assert_one_sentence(message)
    assert "Java 17 or newer" in message
    assert "HERALD_KAFKA_BOOTSTRAP" in message
    assert not (settings.kafka_cache_dir / kafka_version() / "libs").exists()


async def test_missing_java_stops_start(bin_dir: Path, settings: Settings) -> None:
    with pytest.raises(MissingTool, match="Java 17 or newer"):
        await EmbeddedBroker(settings).start()
    assert not (settings.data_dir / "kafka").exists()


def test_old_java_is_named(bin_dir: Path, settings: Settings) -> None:
    fake_java(bin_dir, "1.8.0_392")
    with pytest.raises(MissingTool) as missing:
        ensure_jars(settings)
    assert_one_sentence(str(missing.value))
    assert "is Java 8" in str(missing.value)


def test_missing_maven_is_needed_only_to_download(bin_dir: Path, settings: Settings) -> None:
    fake_java(bin_dir, "21.0.2")
    with pytest.raises(MissingTool) as missing:
        ensure_jars(settings)
    assert_one_sentence(str(missing.value))
    assert "apt-get install maven" in str(missing.value)


def test_config_errors_share_a_base() -> None:
    assert issubclass(MissingTool, HeraldConfigError)


def test_single_node_properties() -> None:
    settings = load_settings(kafka_port=19092, kafka_controller_port=19093, topic_partitions=4)
    props = dict(
        line.split("=", 1) for line in server_properties(settings, Path("/d")).splitlines()
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["num.partitions"] == "4"
    assert props["auto.create.topics.enable"] == "false"
    assert all(v == "1" for k, v in props.items() if k.endswith(("replication.factor", "isr")))


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
