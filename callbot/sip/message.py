"""SIP messages (RFC 3261 section 7): a strict, size-limited parser and a serializer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from callbot.sip.errors import SipParseError

MAX_HEADERS = 128
MAX_LINE = 8192
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9]{2}) ([^\r\n]*)")
_VERSION = "SIP/2.0"

# RFC 3261 7.3.3 compact forms, and the spelling we write each header with.
_COMPACT = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
    "o": "Event",
    "u": "Allow-Events",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "Min-SE",
        "User-to-User",
        "RAck",
        "RSeq",
        "MIME-Version",
    )
}


def canonical_name(name: str) -> str:
    """The one spelling of a header name: compact forms expanded, case folded."""
    if len(name) == 1 and name.lower() in _COMPACT:
        return _COMPACT[name.lower()]
    lower = name.lower()
    if lower in _CANONICAL:
        return _CANONICAL[lower]
    return "-".join(part.capitalize() for part in lower.split("-"))


@dataclass
class Headers:
    """Ordered header fields; names compare case-insensitively after expansion."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.items.append((canonical_name(name), value))

    def get(self, name: str) -> str | None:
        key = canonical_name(name)
        for n, v in self.items:
            if n == key:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        key = canonical_name(name)
        return [v for n, v in self.items if n == key]

    def values(self, name: str) -> list[str]:
        """Every comma-separated element of every field of this name (Via, Route, …)."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(part.strip() for part in split_commas(value) if part.strip())
        return out

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        key = canonical_name(name)
        self.items = [(n, v) for n, v in self.items if n != key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def copy(self) -> Headers:
        return Headers(list(self.items))


@dataclass
class SipRequest:
    method: str
    uri: str
    headers: Headers
    body: bytes = b""

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""


@dataclass
class SipResponse:
    status: int
    reason: str
    headers: Headers
    body: bytes = b""


SipMessage = SipRequest | SipResponse


def split_commas(value: str) -> list[str]:
    """Split a header value at commas that are not inside quotes or <...>."""
    parts: list[str] = []
    depth_angle = False
    quoted = False
    start = 0
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth_angle = True
        elif ch == ">":
            depth_angle = False
        elif ch == "," and not depth_angle:
            parts.append(value[start:i])
            start = i + 1
        i += 1
    parts.append(value[start:])
    return parts


def parse_message(data: bytes, max_bytes: int) -> SipMessage:
    """Parse one whole SIP message (a UDP datagram or a framed TCP message)."""
    if len(data) > max_bytes:
        raise SipParseError(f"message of {len(data)} bytes exceeds the {max_bytes}-byte limit", 513)
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        raise SipParseError("no blank line ends the header section")
    try:
        head = data[:head_end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"header section is not UTF-8 (byte {exc.start})") from exc
    body = data[head_end + 4 :]
    lines = head.split("\r\n")
    start_line = lines[0]
    headers = _parse_headers(lines[1:])
    body = _checked_body(headers, body)
    if start_line.startswith(_VERSION + " "):
        m = _STATUS_LINE.fullmatch(start_line)
        if m is None:
            raise SipParseError("malformed status line")
        return SipResponse(int(m.group(1)), m.group(2), headers, body)
    parts = start_line.split(" ")
    if len(parts) != 3:
        raise SipParseError("request line must be 'METHOD Request-URI SIP/2.0'")
    method, uri, version = parts
    if version != _VERSION:
        raise SipParseError(f"unsupported SIP version {version[:16]!r}", 505)
    if not _TOKEN.fullmatch(method) or len(method) > 32:
        raise SipParseError("malformed method")
    if ":" not in uri or len(uri) > MAX_LINE:
        raise SipParseError("malformed Request-URI")
    request = SipRequest(method, uri, headers, body)
    _check_mandatory(request)
    return request


def _parse_headers(lines: list[str]) -> Headers:
    headers = Headers()
    current: list[str] | None = None
    for line in lines:
        if len(line) > MAX_LINE:
            raise SipParseError(f"a header line is longer than {MAX_LINE} characters")
        if line[:1] in (" ", "\t"):
            if current is None:
                raise SipParseError("continuation line before any header")
            current[1] += " " + line.strip()
            continue
        if current is not None:
            headers.add(current[0], current[1])
        name, sep, value = line.partition(":")
        name = name.rstrip(" \t")
        if not sep or not _TOKEN.fullmatch(name):
            raise SipParseError("malformed header line")
        current = [name, value.strip()]
        if len(headers.items) >= MAX_HEADERS:
            raise SipParseError(f"more than {MAX_HEADERS} header fields")
    if current is not None:
        headers.add(current[0], current[1])
    return headers


def _checked_body(headers: Headers, body: bytes) -> bytes:
    raw = headers.get("Content-Length")
    if raw is None:
        # Allowed over UDP (RFC 3261 18.3): the datagram's end ends the body.
        return body
    if not raw.isdigit() or len(raw) > 9:
        raise SipParseError("Content-Length is not a number")
    length = int(raw)
    if length > len(body):
        raise SipParseError(f"Content-Length {length} exceeds the {len(body)} body bytes received")
    return body[:length]


def _check_mandatory(request: SipRequest) -> None:
    h = request.headers
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if not h.get(name):
            raise SipParseError(f"missing {name} header")
    cseq = h.get("CSeq") or ""
    number, _, method = cseq.partition(" ")
    if not number.isdigit() or len(number) > 10 or int(number) >= 2**31:
        raise SipParseError("CSeq number is not a 31-bit integer")
    if method.strip() != request.method:
        raise SipParseError("CSeq method does not match the request method")
    mf = h.get("Max-Forwards")
    if mf is not None and (not mf.isdigit() or int(mf) > 255):
        raise SipParseError("Max-Forwards is not within 0..255")
    if len(request.call_id) > 256:
        raise SipParseError("Call-ID is longer than 256 characters")


def serialize(message: SipMessage) -> bytes:
    """Wire bytes, with Content-Length set from the body."""
    if isinstance(message, SipRequest):
        start = f"{message.method} {message.uri} {_VERSION}"
    else:
        start = f"{_VERSION} {message.status} {message.reason}"
    headers = message.headers.copy()
    headers.set("Content-Length", str(len(message.body)))
    lines = [start, *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + message.body


def frame_stream(buffer: bytearray, max_bytes: int) -> bytes | None:
    """Take one whole message off a TCP stream buffer, or None if more bytes are needed."""
    while buffer[:2] == b"\r\n":  # RFC 5626 keep-alive CRLFs between messages
        del buffer[:2]
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buffer) > max_bytes:
            raise SipParseError(f"header section exceeds the {max_bytes}-byte limit", 513)
        return None
    m = re.search(
        rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,9})[ \t]*\r?$", buffer[:head_end]
    )
    if m is None:
        raise SipParseError("Content-Length is required over a stream transport")
    total = head_end + 4 + int(m.group(1))
    if total > max_bytes:
        raise SipParseError(f"message of {total} bytes exceeds the {max_bytes}-byte limit", 513)
    if len(buffer) < total:
        return None
    data = bytes(buffer[:total])
    del buffer[:total]
    return data
