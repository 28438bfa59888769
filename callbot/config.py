"""Service settings: defaults, then a YAML config file, then CALLBOT_* env, then flags."""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A setting is unknown or has a value of the wrong type."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every option of the service; docs/configuration.md documents each one."""

    grpc_address: str = "127.0.0.1:50051"
    metrics_address: str = "127.0.0.1:9464"  # empty disables /metrics
    tls_cert_file: str = ""
    tls_key_file: str = ""
    auth_token: str = ""  # bearer token required on Converse when set
    max_calls: int = 200
    drain_timeout_s: float = 30.0
    start_timeout_s: float = 10.0
    media_timeout_s: float = 30.0
    max_chunk_bytes: int = 65536
    echo_delay_ms: int = 500
    default_flow: str = "lost_card_en"
    flows_dir: str = "examples/flows"  # every *.yaml flow here is loaded at start
    default_language: str = "en"
    records_dir: str = "var/records"
    recordings_dir: str = "var/recordings"
    grpc_playout_lead_ms: int = 100
    slow_consumer_timeout_s: float = 5.0
    outbox_max_messages: int = 2000
    rtp_bind_host: str = "127.0.0.1"
    rtp_advertised_host: str = ""  # what `accepted` tells the switch; empty = rtp_bind_host
    rtp_port_min: int = 20000
    rtp_port_max: int = 29999
    rtp_jitter_target_ms: int = 40
    rtp_max_packets_per_s: float = 400.0
    inband_dtmf: bool = True
    stt_languages: str = "en,ko"  # models loaded at start; empty = no speech recognition
    stt_workers: int = 2
    stt_window_s: float = 15.0  # Whisper encoder window (docs/stt.md, "The encoder window")
    stt_max_calls: int = 0  # calls with speech recognition at once; 0 = max_calls
    sip_address: str = ""  # host:port for SIP (UDP, and TCP on the same port); empty disables
    sip_advertised_host: str = ""  # host in Contact/Via/SDP answers; empty = sip_address host
    sip_tcp: bool = True
    sip_allowed_sources: str = "127.0.0.0/8,::1/128"  # CIDRs that may send INVITEs
    sip_max_calls_per_source: int = 100
    sip_max_message_bytes: int = 16384
    sip_transfer_targets: str = ""  # name=sip:uri,… : the only places a transfer may go
    sip_session_expires_s: int = 1800
    sip_min_se_s: int = 90
    sip_ring_ms: int = 0
    sip_codecs: str = "PCMU,PCMA"
    export_jsonl_dir: str = ""  # daily JSONL files of exported events; empty disables
    export_jsonl_events: str = "call.ended"  # which events the JSONL files get
    export_rabbitmq_url: str = ""  # amqp://user:pass@host:5672/vhost; empty disables
    export_rabbitmq_exchange: str = "callbot.events"
    export_rabbitmq_queue: str = ""  # also declare this durable queue, bound to every event
    export_rabbitmq_events: str = "call.started,turn.final,call.ended"
    export_spool_dir: str = "var/spool"
    export_spool_max_bytes: int = 64 * 1024 * 1024
    export_spool_alarm_records: int = 1000
    export_retry_max_s: float = 30.0
    export_flush_timeout_s: float = 10.0
    redact_kinds: str = "card,phone,email,rrn"  # empty disables redaction
    redact_logs: bool = True
    server_id: str = dataclasses.field(default_factory=socket.gethostname)
    log_level: str = "INFO"

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        values: dict[str, Any] = {}
        if config_file is not None:
            values.update(_read_file(Path(config_file)))
        env = os.environ if env is None else env
        for field in dataclasses.fields(cls):
            key = f"CALLBOT_{field.name.upper()}"
            if key in env:
                values[field.name] = env[key]
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        typed: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in fields:
                raise ConfigError(f"unknown setting {name!r}")
            typed[name] = _coerce(name, raw, fields[name].type)
        settings = cls(**typed)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.max_calls < 1:
            raise ConfigError("max_calls must be >= 1")
        if not 0 <= self.echo_delay_ms <= 10_000:
            raise ConfigError("echo_delay_ms must be within 0..10000")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError("tls_cert_file and tls_key_file must be set together")
        if not 1024 <= self.rtp_port_min < self.rtp_port_max <= 65535:
            raise ConfigError("rtp_port_min/rtp_port_max must satisfy 1024 <= min < max <= 65535")
        if self.rtp_bind_host in ("0.0.0.0", "::") and not self.rtp_advertised_host:
            raise ConfigError("rtp_advertised_host is required when rtp_bind_host is a wildcard")
        if self.sip_address:
            from callbot.sip.settings import SipConfigError, SipSettings

            try:
                SipSettings.from_settings(self)
            except SipConfigError as exc:
                raise ConfigError(str(exc)) from exc
        if self.max_chunk_bytes < 320:
            raise ConfigError("max_chunk_bytes must be >= 320")
        from callbot.export.config import ExportConfigError, ExportSettings

        try:
            ExportSettings.from_settings(self)
        except ExportConfigError as exc:
            raise ConfigError(str(exc)) from exc


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config file must be a mapping of settings")
    return {str(k): v for k, v in data.items()}


def _coerce(name: str, raw: Any, kind: Any) -> Any:
    kind_name = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    try:
        if kind_name == "bool":
            if isinstance(raw, str):
                if raw.lower() in ("1", "true", "yes", "on"):
                    return True
                if raw.lower() in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(raw)
            return bool(raw)
        if kind_name == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(raw)
        if kind_name == "float":
            return float(raw)
        if kind_name == "str":
            return "" if raw is None else str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: {raw!r} is not a valid {kind_name}") from exc
    raise ConfigError(f"setting {name!r} has an unsupported type {kind_name}")
