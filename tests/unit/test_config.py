"""Settings: defaults, then file, then environment, then flags; bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from callbot.config import ConfigError, Settings


def test_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "callbot.yaml"
    cfg.write_text("max_calls: 10\necho_delay_ms: 300\ngrpc_address: 0.0.0.0:1\n")
    env = {"CALLBOT_MAX_CALLS": "20", "CALLBOT_AUTH_TOKEN": "t"}
    s = Settings.load(cfg, env=env, overrides={"grpc_address": "127.0.0.1:2", "log_level": None})
    assert (s.max_calls, s.echo_delay_ms, s.grpc_address, s.auth_token) == (
        20,
        300,
        "127.0.0.1:2",
        "t",
    )
    assert s.grpc_address == "127.0.0.1:2"
    assert Settings.load(env={}).grpc_address == "127.0.0.1:50051"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope: 1\n", "unknown setting 'nope'"),
        ("max_calls: many\n", "max_calls"),
        ("max_calls: 0\n", "max_calls must be >= 1"),
        ("- a\n", "mapping"),
        ("tls_cert_file: a.pem\n", "together"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        Settings.load(cfg, env={})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.load(tmp_path / "missing.yaml", env={})


def test_every_setting_is_documented() -> None:
    import dataclasses

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for field in dataclasses.fields(Settings):
        assert f"`{field.name}`" in doc, field.name
        assert f"CALLBOT_{field.name.upper()}" in doc, field.name
