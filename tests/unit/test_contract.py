"""CallStart validation: every rule gives a precise, typed error."""

from __future__ import annotations

import grpc
import pytest

from callbot.callconfig import MediaMode
from callbot.media.codec import CodecName
from callbot.server.contract import ContractError, StartPolicy, validate_dtmf, validate_start
from callbot.v1 import callbot_pb2 as pb

POLICY = StartPolicy(
    default_language="en",
    languages=frozenset({"en", "ko", "auto"}),
    default_flow="echo",
    flows=frozenset({"echo"}),
    media_modes=frozenset({MediaMode.GRPC, MediaMode.RTP}),
)


def _err(**fields: object) -> ContractError:
    with pytest.raises(ContractError) as info:
        validate_start(pb.CallStart(**fields), POLICY)  # type: ignore[arg-type]
    return info.value


def test_defaults_fill_in() -> None:
    cfg = validate_start(pb.CallStart(call_id="c1"), POLICY)
    assert cfg.media_mode is MediaMode.GRPC
    assert cfg.codec is CodecName.PCMU
    assert (cfg.sample_rate, cfg.packet_ms, cfg.frame_samples) == (8000, 20, 160)
    assert (cfg.language, cfg.flow, cfg.record) == ("en", "echo", False)
    assert (cfg.l16_payload_type, cfg.telephone_event_payload_type) == (118, 101)


def test_l16_defaults_to_16k_and_keeps_fields() -> None:
    cfg = validate_start(
        pb.CallStart(
            call_id="c2",
            codec=pb.CODEC_L16,
            media_mode=pb.MEDIA_MODE_RTP,
            packet_ms=30,
            l16_payload_type=96,
            remote_rtp=pb.RtpAddress(host="127.0.0.1", port=4000),
            caller_metadata={"ani": "x"},
            record=True,
        ),
        POLICY,
    )
    assert cfg.sample_rate == 16000 and cfg.packet_ms == 30 and cfg.l16_payload_type == 96
    assert cfg.remote_rtp == ("127.0.0.1", 4000)
    assert cfg.caller_metadata == {"ani": "x"} and cfg.record


def test_empty_call_id_gets_generated() -> None:
    assert len(validate_start(pb.CallStart(), POLICY).call_id) == 32


@pytest.mark.parametrize(
    ("fields", "code", "status", "text"),
    [
        ({"call_id": "a/b"}, pb.ERROR_CODE_INVALID_ARGUMENT, "INVALID_ARGUMENT", "call_id"),
        ({"codec": 9}, pb.ERROR_CODE_UNSUPPORTED_CODEC, "INVALID_ARGUMENT", "codec 9"),
        (
            {"codec": pb.CODEC_PCMU, "sample_rate_hz": 16000},
            pb.ERROR_CODE_UNSUPPORTED_SAMPLE_RATE,
            "INVALID_ARGUMENT",
            "16000",
        ),
        (
            {"codec": pb.CODEC_L16, "sample_rate_hz": 44100},
            pb.ERROR_CODE_UNSUPPORTED_SAMPLE_RATE,
            "INVALID_ARGUMENT",
            "44100",
        ),
        ({"packet_ms": 25}, pb.ERROR_CODE_INVALID_ARGUMENT, "INVALID_ARGUMENT", "packet_ms"),
        (
            {"telephone_event_payload_type": 13},
            pb.ERROR_CODE_INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            "dynamic",
        ),
        ({"language": "fr"}, pb.ERROR_CODE_UNKNOWN_LANGUAGE, "INVALID_ARGUMENT", "fr"),
        ({"flow": "nope"}, pb.ERROR_CODE_UNKNOWN_FLOW, "NOT_FOUND", "nope"),
        (
            {"media_mode": pb.MEDIA_MODE_SIP},
            pb.ERROR_CODE_WRONG_MEDIA_MODE,
            "FAILED_PRECONDITION",
            "SIP",
        ),
        (
            {"remote_rtp": pb.RtpAddress(host="h", port=0)},
            pb.ERROR_CODE_INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            "remote_rtp",
        ),
        (
            {"caller_metadata": {str(i): "v" for i in range(65)}},
            pb.ERROR_CODE_INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            "64",
        ),
    ],
)
def test_start_rules(fields: dict[str, object], code: int, status: str, text: str) -> None:
    err = _err(**fields)
    assert err.code == code
    assert err.status == getattr(grpc.StatusCode, status)
    assert text in err.message
    msg = err.to_message()
    assert msg.error.code == code and msg.error.fatal


def test_media_mode_not_enabled() -> None:
    policy = StartPolicy("en", frozenset({"en"}), "echo", frozenset({"echo"}), frozenset())
    with pytest.raises(ContractError) as info:
        validate_start(pb.CallStart(), policy)
    assert info.value.code == pb.ERROR_CODE_WRONG_MEDIA_MODE


def test_dtmf_digits() -> None:
    assert validate_dtmf(pb.Dtmf(digit="a")) == "A"
    for bad in ("", "12", "x"):
        with pytest.raises(ContractError) as info:
            validate_dtmf(pb.Dtmf(digit=bad))
        assert not info.value.fatal
