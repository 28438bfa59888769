"""SDP offer/answer: codec choice, telephone-event, ptime, hold, 488 cases."""

from __future__ import annotations

import pytest

from callbot.media.codec import CodecName
from callbot.sip.errors import SdpError
from callbot.sip.sdp import SdpSession, parse_offer


def sdp(media: str, conn: str = "c=IN IP4 10.0.0.5") -> bytes:
    return f"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\n{conn}\r\nt=0 0\r\n{media}".encode()


def test_picks_the_callers_first_common_codec_and_keeps_its_event_pt() -> None:
    offer = parse_offer(
        sdp(
            "m=audio 4000 RTP/AVP 18 8 0 110\r\na=rtpmap:110 telephone-event/8000\r\na=ptime:30\r\n"
        )
    )
    assert (offer.codec, offer.payload_type, offer.telephone_event_pt) == (CodecName.PCMA, 8, 110)
    assert (offer.host, offer.port, offer.ptime, offer.on_hold) == ("10.0.0.5", 4000, 30, False)
    answer = SdpSession(42).answer(offer, "127.0.0.1", 20000).decode()
    assert "m=audio 20000 RTP/AVP 8 110\r\n" in answer
    assert "a=rtpmap:110 telephone-event/8000" in answer and "a=ptime:30" in answer


@pytest.mark.parametrize(
    ("media", "conn", "hold"),
    [
        ("m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n", "c=IN IP4 10.0.0.5", True),
        ("m=audio 4000 RTP/AVP 0\r\na=inactive\r\n", "c=IN IP4 10.0.0.5", True),
        ("m=audio 4000 RTP/AVP 0\r\n", "c=IN IP4 0.0.0.0", True),
        ("m=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n", "c=IN IP4 10.0.0.5", False),
    ],
)
def test_hold_forms(media: str, conn: str, hold: bool) -> None:
    offer = parse_offer(sdp(media, conn))
    assert offer.on_hold is hold
    answer = SdpSession(1).answer(offer, "127.0.0.1", 20000).decode()
    if "sendonly" in media:
        assert "a=recvonly" in answer


def test_video_is_declined_with_port_zero_and_versions_bump_on_change() -> None:
    offer = parse_offer(sdp("m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\n"))
    session = SdpSession(7)
    first = session.answer(offer, "127.0.0.1", 20000).decode()
    assert "m=video 0 RTP/AVP 96" in first
    assert session.answer(offer, "127.0.0.1", 20000).decode() == first
    held = parse_offer(sdp("m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"))
    assert "o=callbot 7 2 " in session.answer(held, "127.0.0.1", 20000).decode()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (sdp("m=audio 4000 RTP/AVP 18\r\n"), "no common codec"),
        (sdp("m=image 4000 udptl t38\r\n"), "no audio"),
        (sdp("m=video 4000 RTP/AVP 96\r\n"), "no audio"),
        (sdp("m=audio 4000 RTP/SAVP 0\r\n"), "no common codec"),
        (b"v=1\r\n", "v=0"),
    ],
)
def test_refusals(body: bytes, words: str) -> None:
    with pytest.raises(SdpError, match=words):
        parse_offer(body)


def test_pcmu_only_setting() -> None:
    with pytest.raises(SdpError):
        parse_offer(sdp("m=audio 4000 RTP/AVP 8\r\n"), (CodecName.PCMU,))
