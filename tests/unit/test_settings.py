from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import load_settings


def test_defaults_run_everything_embedded(monkeypatch: pytest.MonkeyPatch):
    for name in (
        "HERALD_KAFKA_BOOTSTRAP",
        "HERALD_DATABASE_URL",
        "HERALD_SMTP_URL",
        "HERALD_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    s = load_settings(data_dir=Path("/tmp/h"))
    assert s.api_port == 8080
    assert s.embedded_kafka and s.bootstrap == "127.0.0.1:9092"
    assert s.effective_database_url == "sqlite:////tmp/h/herald.sqlite3"
    assert s.effective_smtp_url == "smtp://127.0.0.1:2525"


def test_environment_wins_over_the_toml_file_which_wins_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    toml = tmp_path / "herald.toml"
    toml.write_text('api_port = 9000\nsmtp_url = "smtps://relay.example.com:465"\n')
    monkeypatch.setenv("HERALD_CONFIG", str(toml))
    monkeypatch.setenv("HERALD_API_PORT", "9100")
    monkeypatch.setenv("HERALD_RETRY_SCHEDULE", "[1, 2.5]")
    s = load_settings()
    assert s.api_port == 9100
    assert s.smtp_url == "smtps://relay.example.com:465"
    assert s.retry_schedule == (1.0, 2.5)


def test_a_bad_value_is_refused_with_the_field_named(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HERALD_API_PORT", "eighty")
    with pytest.raises(ValidationError, match="api_port"):
        load_settings()
