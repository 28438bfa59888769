"""The Converse contract's rules: validation of CallStart and of audio chunks."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import grpc

from callbot.callconfig import CallConfig, MediaMode
from callbot.media.codec import CodecName
from callbot.v1 import callbot_pb2 as pb

_CALL_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_PACKET_MS = (10, 20, 30, 40)
_MAX_METADATA_ENTRIES = 64
_MAX_METADATA_KEY = 128
_MAX_METADATA_VALUE = 1024
# A timestamp may jump ahead (a gap the server fills) by at most this much.
MAX_GAP_S = 60

_STATUS_BY_CODE: dict[int, grpc.StatusCode] = {
    pb.ERROR_CODE_START_REQUIRED: grpc.StatusCode.FAILED_PRECONDITION,
    pb.ERROR_CODE_DUPLICATE_START: grpc.StatusCode.FAILED_PRECONDITION,
    pb.ERROR_CODE_WRONG_MEDIA_MODE: grpc.StatusCode.FAILED_PRECONDITION,
    pb.ERROR_CODE_RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    pb.ERROR_CODE_SLOW_CONSUMER: grpc.StatusCode.RESOURCE_EXHAUSTED,
    pb.ERROR_CODE_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    pb.ERROR_CODE_UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    pb.ERROR_CODE_UNKNOWN_FLOW: grpc.StatusCode.NOT_FOUND,
    pb.ERROR_CODE_INTERNAL: grpc.StatusCode.INTERNAL,
}


class ContractError(Exception):
    """A client broke the contract (or was refused): an Error event plus a gRPC status."""

    def __init__(self, code: pb.ErrorCode.ValueType, message: str, *, fatal: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fatal = fatal

    @property
    def status(self) -> grpc.StatusCode:
        return _STATUS_BY_CODE.get(self.code, grpc.StatusCode.INVALID_ARGUMENT)

    @property
    def code_name(self) -> str:
        return pb.ErrorCode.Name(self.code).removeprefix("ERROR_CODE_").lower()

    def to_message(self) -> pb.ServerMessage:
        return pb.ServerMessage(
            error=pb.Error(code=self.code, message=self.message, fatal=self.fatal)
        )


@dataclass
class StartPolicy:
    """What this server accepts at start."""

    default_language: str
    languages: frozenset[str]
    default_flow: str
    flows: frozenset[str]
    media_modes: frozenset[MediaMode]


_CODECS = {
    pb.CODEC_PCMU: CodecName.PCMU,
    pb.CODEC_PCMA: CodecName.PCMA,
    pb.CODEC_L16: CodecName.L16,
}
_MODES = {pb.MEDIA_MODE_GRPC: MediaMode.GRPC, pb.MEDIA_MODE_RTP: MediaMode.RTP}


def validate_start(start: pb.CallStart, policy: StartPolicy) -> CallConfig:
    """Turn a CallStart into a CallConfig, or raise ContractError saying what is wrong."""
    call_id = start.call_id or uuid.uuid4().hex
    if not _CALL_ID.fullmatch(call_id):
        raise ContractError(
            pb.ERROR_CODE_INVALID_ARGUMENT,
            "call_id must be 1-128 characters of A-Z a-z 0-9 . _ : -",
        )
    if start.media_mode == pb.MEDIA_MODE_SIP:
        raise ContractError(
            pb.ERROR_CODE_WRONG_MEDIA_MODE, "MEDIA_MODE_SIP calls arrive over SIP, not Converse"
        )
    mode = _MODES.get(start.media_mode or pb.MEDIA_MODE_GRPC)
    if mode is None:
        raise ContractError(
            pb.ERROR_CODE_INVALID_ARGUMENT, f"unknown media_mode {start.media_mode}"
        )
    if mode not in policy.media_modes:
        raise ContractError(
            pb.ERROR_CODE_WRONG_MEDIA_MODE, f"media mode {mode.name} is not enabled on this server"
        )
    codec = _CODECS.get(start.codec or pb.CODEC_PCMU)
    if codec is None:
        raise ContractError(
            pb.ERROR_CODE_UNSUPPORTED_CODEC,
            f"codec {start.codec} is not supported (PCMU, PCMA, L16)",
        )
    rate = start.sample_rate_hz or (16000 if codec is CodecName.L16 else 8000)
    allowed_rates = (8000, 16000) if codec is CodecName.L16 else (8000,)
    if rate not in allowed_rates:
        raise ContractError(
            pb.ERROR_CODE_UNSUPPORTED_SAMPLE_RATE,
            f"sample_rate_hz {rate} is not supported for {codec.value} "
            f"(allowed: {', '.join(map(str, allowed_rates))})",
        )
    packet_ms = start.packet_ms or 20
    if packet_ms not in _PACKET_MS:
        raise ContractError(
            pb.ERROR_CODE_INVALID_ARGUMENT, f"packet_ms {packet_ms} is not one of 10, 20, 30, 40"
        )
    l16_pt = start.l16_payload_type or 118
    te_pt = start.telephone_event_payload_type or 101
    for name, pt in (("l16_payload_type", l16_pt), ("telephone_event_payload_type", te_pt)):
        if not 96 <= pt <= 127:
            raise ContractError(
                pb.ERROR_CODE_INVALID_ARGUMENT,
                f"{name} {pt} is not a dynamic payload type (96-127)",
            )
    remote = None
    if start.HasField("remote_rtp"):
        remote = validate_rtp_address(start.remote_rtp)
    language = start.language or policy.default_language
    if language not in policy.languages:
        raise ContractError(
            pb.ERROR_CODE_UNKNOWN_LANGUAGE,
            f"language {language!r} is not configured "
            f"(have: {', '.join(sorted(policy.languages))})",
        )
    flow = start.flow or policy.default_flow
    if flow not in policy.flows:
        raise ContractError(pb.ERROR_CODE_UNKNOWN_FLOW, f"flow {flow!r} is not loaded")
    metadata = dict(start.caller_metadata)
    _check_metadata(metadata)
    return CallConfig(
        call_id=call_id,
        tenant=start.tenant,
        media_mode=mode,
        codec=codec,
        sample_rate=rate,
        packet_ms=packet_ms,
        language=language,
        flow=flow,
        l16_payload_type=l16_pt,
        telephone_event_payload_type=te_pt,
        remote_rtp=remote,
        caller_metadata=metadata,
        record=start.record,
    )


def validate_rtp_address(addr: pb.RtpAddress) -> tuple[str, int]:
    if not addr.host or not 1 <= addr.port <= 65535:
        raise ContractError(
            pb.ERROR_CODE_INVALID_ARGUMENT, "remote_rtp needs a host and a port in 1-65535"
        )
    return addr.host, addr.port


def _check_metadata(metadata: dict[str, str]) -> None:
    if len(metadata) > _MAX_METADATA_ENTRIES:
        raise ContractError(
            pb.ERROR_CODE_INVALID_ARGUMENT,
            f"caller_metadata has more than {_MAX_METADATA_ENTRIES} entries",
        )
    for key, value in metadata.items():
        if not key or len(key) > _MAX_METADATA_KEY or len(value) > _MAX_METADATA_VALUE:
            raise ContractError(
                pb.ERROR_CODE_INVALID_ARGUMENT,
                f"caller_metadata keys must be 1-{_MAX_METADATA_KEY} characters and values "
                f"at most {_MAX_METADATA_VALUE}",
            )


def validate_metadata_update(metadata: dict[str, str]) -> dict[str, str]:
    _check_metadata(metadata)
    return metadata


DTMF_DIGITS = frozenset("0123456789*#ABCD")


def validate_dtmf(dtmf: pb.Dtmf) -> str:
    digit = dtmf.digit.upper()
    if len(digit) != 1 or digit not in DTMF_DIGITS:
        raise ContractError(
            pb.ERROR_CODE_INVALID_ARGUMENT, "dtmf digit must be one of 0-9 * # A-D", fatal=False
        )
    return digit
