"""The SIP front door's settings, validated from the service Settings (sip_* fields)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from callbot.media.codec import CodecName
from callbot.sip.errors import SipParseError
from callbot.sip.headers import SipUri

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SipConfigError(ValueError):
    """A sip_* setting is invalid."""


@dataclass(frozen=True)
class SipSettings:
    host: str = "127.0.0.1"
    port: int = 5060
    tcp: bool = True
    advertised_host: str = ""
    allowed_sources: tuple[Network, ...] = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    max_calls_per_source: int = 100
    max_message_bytes: int = 16384
    transfer_targets: dict[str, str] = field(default_factory=dict)
    session_expires_s: int = 1800
    min_se_s: int = 90
    ring_ms: int = 0
    codecs: tuple[CodecName, ...] = (CodecName.PCMU, CodecName.PCMA)
    t1_s: float = 0.5
    flow: str = "echo"
    language: str = "en"

    @property
    def contact_host(self) -> str:
        return self.advertised_host or self.host

    def allows(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self.allowed_sources)

    def transfer_uri(self, target: str) -> str | None:
        """The allowlisted URI for a target name or URI; None when it is not allowed."""
        if target in self.transfer_targets:
            return self.transfer_targets[target]
        if target in self.transfer_targets.values():
            return target
        return None

    @classmethod
    def from_settings(cls, s: Any) -> SipSettings:
        """Build from callbot.config.Settings; raises SipConfigError."""
        host, port = _split_address(s.sip_address)
        if host in ("0.0.0.0", "::") and not s.sip_advertised_host:
            raise SipConfigError("sip_advertised_host is required when sip_address is a wildcard")
        try:
            sources = tuple(
                ipaddress.ip_network(n.strip(), strict=False)
                for n in s.sip_allowed_sources.split(",")
                if n.strip()
            )
        except ValueError as exc:
            raise SipConfigError(f"sip_allowed_sources: {exc}") from exc
        if s.sip_max_message_bytes < 1024 or s.sip_max_message_bytes > 65535:
            raise SipConfigError("sip_max_message_bytes must be within 1024..65535")
        if s.sip_min_se_s < 1 or s.sip_session_expires_s < s.sip_min_se_s:
            raise SipConfigError("need 1 <= sip_min_se_s <= sip_session_expires_s")
        try:
            codecs = tuple(
                CodecName(c.strip().upper()) for c in s.sip_codecs.split(",") if c.strip()
            )
        except ValueError as exc:
            raise SipConfigError("sip_codecs may list PCMU and PCMA") from exc
        if not codecs or any(c not in (CodecName.PCMU, CodecName.PCMA) for c in codecs):
            raise SipConfigError("sip_codecs may list PCMU and PCMA")
        return cls(
            host=host,
            port=port,
            tcp=s.sip_tcp,
            advertised_host=s.sip_advertised_host,
            allowed_sources=sources,
            max_calls_per_source=s.sip_max_calls_per_source,
            max_message_bytes=s.sip_max_message_bytes,
            transfer_targets=parse_targets(s.sip_transfer_targets),
            session_expires_s=s.sip_session_expires_s,
            min_se_s=s.sip_min_se_s,
            ring_ms=s.sip_ring_ms,
            codecs=codecs,
            flow=s.default_flow,
            language=s.default_language,
        )


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise SipConfigError("sip_address must be host:port (port 0 picks a free one)")
    return host.strip("[]"), int(port)


def parse_targets(text: str) -> dict[str, str]:
    """'sales=sip:sales@pbx,sip:desk@pbx' → {'sales': 'sip:sales@pbx', 'sip:desk@pbx': …}."""
    targets: dict[str, str] = {}
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        name, sep, uri = item.partition("=")
        if not sep:
            name, uri = item, item
        try:
            SipUri.parse(uri)
        except SipParseError as exc:
            raise SipConfigError(f"sip_transfer_targets: {exc}") from exc
        targets[name.strip()] = uri.strip()
    return targets
