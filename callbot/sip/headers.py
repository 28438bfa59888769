"""Structured header values: name-addr, SIP URIs, Via, CSeq, parameters."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from callbot.sip.errors import SipParseError

_HOSTPORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)(?::([0-9]{1,5}))?")


def parse_params(text: str) -> dict[str, str]:
    """';a=b;c' → {'a': 'b', 'c': ''}; names are lower-cased."""
    params: dict[str, str] = {}
    for raw in text.split(";"):
        part = raw.strip()
        if not part:
            continue
        name, _, value = part.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return params


def format_params(params: dict[str, str]) -> str:
    return "".join(f";{k}={v}" if v else f";{k}" for k, v in params.items())


@dataclass(frozen=True)
class SipUri:
    scheme: str
    user: str
    host: str
    port: int | None
    params: dict[str, str] = field(default_factory=dict)
    headers: str = ""

    @classmethod
    def parse(cls, text: str) -> SipUri:
        scheme, sep, rest = text.strip().partition(":")
        scheme = scheme.lower()
        if not sep or scheme not in ("sip", "sips", "tel"):
            raise SipParseError("URI scheme must be sip, sips or tel")
        rest, _, headers = rest.partition("?")
        if scheme == "tel":
            number, _, params = rest.partition(";")
            return cls(scheme, number, "", None, parse_params(params), headers)
        userinfo, at, hostpart = rest.rpartition("@")
        if not at:
            hostpart = rest
        hostport, _, params = hostpart.partition(";")
        m = _HOSTPORT.fullmatch(hostport)
        if m is None:
            raise SipParseError("malformed host in SIP URI")
        port = int(m.group(2)) if m.group(2) else None
        if port is not None and not 0 < port < 65536:
            raise SipParseError("port in SIP URI is out of range")
        user = userinfo.partition(":")[0]
        return cls(scheme, user, m.group(1).strip("[]"), port, parse_params(params), headers)

    @property
    def transport(self) -> str:
        return self.params.get("transport", "udp").lower()

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.user}{format_params(self.params)}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        user = f"{self.user}@" if self.user else ""
        tail = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{user}{host}{port}{format_params(self.params)}{tail}"


@dataclass(frozen=True)
class NameAddr:
    """`"Display" <uri>;params` or `uri;params` (From, To, Contact, Route, Refer-To)."""

    display: str
    uri: str
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        lt = text.find("<")
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise SipParseError("unclosed <...> in a name-addr")
            return cls(
                text[:lt].strip().strip('"'), text[lt + 1 : gt], parse_params(text[gt + 1 :])
            )
        uri, _, params = text.partition(";")
        if not uri:
            raise SipParseError("empty address")
        return cls("", uri.strip(), parse_params(params))

    @property
    def tag(self) -> str:
        return self.params.get("tag", "")

    def __str__(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


@dataclass(frozen=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Via:
        proto, _, rest = text.strip().partition(" ")
        parts = proto.split("/")
        if len(parts) != 3 or parts[0].upper() != "SIP" or parts[1] != "2.0":
            raise SipParseError("malformed Via protocol")
        sent_by, _, params = rest.strip().partition(";")
        m = _HOSTPORT.fullmatch(sent_by.strip())
        if m is None:
            raise SipParseError("malformed Via sent-by")
        port = int(m.group(2)) if m.group(2) else None
        return cls(parts[2].upper(), m.group(1).strip("[]"), port, parse_params(params))

    @property
    def branch(self) -> str:
        return self.params.get("branch", "")


def parse_cseq(value: str) -> tuple[int, str]:
    number, _, method = value.strip().partition(" ")
    if not number.isdigit() or len(number) > 10 or int(number) >= 2**31:
        raise SipParseError("CSeq number is not a 31-bit integer")
    return int(number), method.strip()


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def tokens(value: str | None) -> set[str]:
    """'timer, 100rel' → {'timer', '100rel'} (Supported, Require, Allow)."""
    if not value:
        return set()
    return {t.strip().lower() for t in value.split(",") if t.strip()}
