"""SDP offer/answer (RFC 3264) for one G.711 audio stream plus telephone-event."""

from __future__ import annotations

from dataclasses import dataclass, field

from callbot.media.codec import CodecName
from callbot.sip.errors import SdpError

MAX_SDP_LINES = 200
_STATIC = {0: CodecName.PCMU, 8: CodecName.PCMA}
_PT = {CodecName.PCMU: 0, CodecName.PCMA: 8}
_PTIMES = (10, 20, 30, 40)
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


@dataclass
class MediaSection:
    kind: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    attributes: list[str] = field(default_factory=list)

    def attr_values(self, name: str) -> list[str]:
        prefix = name + ":"
        return [a[len(prefix) :] for a in self.attributes if a.startswith(prefix)]

    def direction(self, default: str) -> str:
        for a in self.attributes:
            if a in _DIRECTIONS:
                return a
        return default


@dataclass(frozen=True)
class Offer:
    """What the bot takes from an offer: one audio stream and how to reach it."""

    codec: CodecName
    payload_type: int
    telephone_event_pt: int | None
    ptime: int
    host: str
    port: int
    direction: str
    sections: tuple[MediaSection, ...]
    audio_index: int

    @property
    def on_hold(self) -> bool:
        """RFC 3264 8.4 hold (sendonly/inactive) or the older RFC 2543 0.0.0.0 form."""
        return self.direction in ("sendonly", "inactive") or self.host in ("0.0.0.0", "::")


def parse_offer(
    body: bytes, codecs: tuple[CodecName, ...] = (CodecName.PCMU, CodecName.PCMA)
) -> Offer:
    """Pick the audio stream and codec from an SDP offer, or raise SdpError (488)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError("SDP is not UTF-8", 400) from exc
    lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln]
    if len(lines) > MAX_SDP_LINES:
        raise SdpError(f"SDP has more than {MAX_SDP_LINES} lines", 400)
    if not lines or lines[0] != "v=0":
        raise SdpError("SDP must start with v=0", 400)
    session_conn: str | None = None
    session_attrs: list[str] = []
    sections: list[MediaSection] = []
    for line in lines:
        if len(line) < 2 or line[1] != "=":
            raise SdpError("malformed SDP line", 400)
        kind, value = line[0], line[2:]
        if kind == "m":
            sections.append(_media_line(value))
        elif kind == "c":
            if sections:
                sections[-1].connection = value
            else:
                session_conn = value
        elif kind == "a":
            (sections[-1].attributes if sections else session_attrs).append(value)
    if not sections:
        raise SdpError("SDP offer has no media")
    session_dir = next((a for a in session_attrs if a in _DIRECTIONS), "sendrecv")
    for index, section in enumerate(sections):
        if section.kind != "audio" or section.port == 0:
            continue
        if section.proto.upper() != "RTP/AVP":
            continue
        chosen = _choose_codec(section, codecs)
        if chosen is None:
            continue
        conn = section.connection or session_conn
        if conn is None:
            raise SdpError("no c= line for the audio stream", 400)
        return Offer(
            codec=chosen[0],
            payload_type=chosen[1],
            telephone_event_pt=_telephone_event(section),
            ptime=_ptime(section),
            host=_connection_host(conn),
            port=section.port,
            direction=section.direction(session_dir),
            sections=tuple(sections),
            audio_index=index,
        )
    kinds = sorted({s.kind for s in sections if s.port})
    if "audio" not in kinds:
        raise SdpError(f"no audio stream offered (only {', '.join(kinds) or 'disabled streams'})")
    raise SdpError("no common codec: the bot takes PCMU or PCMA over RTP/AVP")


def _media_line(value: str) -> MediaSection:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError("malformed m= line", 400)
    port = parts[1].partition("/")[0]
    if not port.isdigit() or int(port) > 65535:
        raise SdpError("m= port is out of range", 400)
    return MediaSection(parts[0].lower(), int(port), parts[2], parts[3:])


def _rtpmap(section: MediaSection) -> dict[int, str]:
    out: dict[int, str] = {}
    for value in section.attr_values("rtpmap"):
        pt, _, name = value.partition(" ")
        if pt.isdigit():
            out[int(pt)] = name.strip().lower()
    return out


def _choose_codec(
    section: MediaSection, codecs: tuple[CodecName, ...]
) -> tuple[CodecName, int] | None:
    rtpmap = _rtpmap(section)
    for fmt in section.formats:
        if not fmt.isdigit() or int(fmt) > 127:
            continue
        pt = int(fmt)
        name = rtpmap.get(pt)
        codec = _STATIC.get(pt) if name is None else _by_name(name)
        if codec in codecs:
            return codec, pt
    return None


def _by_name(name: str) -> CodecName | None:
    return {"pcmu/8000": CodecName.PCMU, "pcma/8000": CodecName.PCMA}.get(name.partition("/1")[0])


def _telephone_event(section: MediaSection) -> int | None:
    offered = {f for f in section.formats if f.isdigit()}
    for pt, name in _rtpmap(section).items():
        if name.startswith("telephone-event/8000") and str(pt) in offered and 96 <= pt <= 127:
            return pt
    return None


def _ptime(section: MediaSection) -> int:
    for value in section.attr_values("ptime"):
        if value.strip().isdigit() and int(value) in _PTIMES:
            return int(value)
    return 20


def _connection_host(conn: str) -> str:
    parts = conn.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError("malformed c= line", 400)
    return parts[2].partition("/")[0]


@dataclass
class SdpSession:
    """The bot's side of one call's SDP: o= session id and version across re-INVITEs."""

    session_id: int
    version: int = 1
    last_body: bytes = b""

    def answer(self, offer: Offer, host: str, port: int) -> bytes:
        """An answer with one m= line per offered one; only the audio stream is taken."""
        ip = "IP6" if ":" in host else "IP4"
        lines = [
            "v=0",
            f"o=callbot {self.session_id} {self.version} IN {ip} {host}",
            "s=callbot",
            f"c=IN {ip} {host}",
            "t=0 0",
        ]
        for index, section in enumerate(offer.sections):
            if index != offer.audio_index:
                lines.append(f"m={section.kind} 0 {section.proto} {section.formats[0]}")
                continue
            pts = [str(offer.payload_type)]
            codec = offer.codec.value
            lines_attr = [f"a=rtpmap:{offer.payload_type} {codec}/8000"]
            if offer.telephone_event_pt is not None:
                te = offer.telephone_event_pt
                pts.append(str(te))
                lines_attr += [f"a=rtpmap:{te} telephone-event/8000", f"a=fmtp:{te} 0-16"]
            lines.append(f"m=audio {port} RTP/AVP {' '.join(pts)}")
            lines += lines_attr
            lines.append(f"a=ptime:{offer.ptime}")
            lines.append(f"a={_ANSWER_DIRECTION[offer.direction]}")
        body = ("\r\n".join(lines) + "\r\n").encode()
        if self.last_body and body != self.last_body:
            # RFC 3264 8: a changed answer gets a new version; an unchanged one keeps it.
            self.version += 1
            body = body.replace(
                f" {self.version - 1} IN ".encode(), f" {self.version} IN ".encode(), 1
            )
        self.last_body = body
        return body


def payload_type_of(codec: CodecName) -> int:
    return _PT[codec]
