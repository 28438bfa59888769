"""Our G.711 tables against the stdlib audioop, over every input, and the hot path against both."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from callbot.media import g711
from callbot.media.codec import AudioCodec, CodecName

if sys.version_info >= (3, 13):
    pytest.skip("audioop was removed in Python 3.13", allow_module_level=True)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def test_ulaw_encode_matches_audioop() -> None:
    assert (
        g711.table_ulaw_encode(ALL_SAMPLES)
        == g711.ulaw_encode(ALL_SAMPLES)
        == audioop.lin2ulaw(ALL_SAMPLES.tobytes(), 2)
    )


def test_ulaw_decode_matches_audioop() -> None:
    expected = np.frombuffer(audioop.ulaw2lin(ALL_CODES, 2), dtype=np.int16)
    assert np.array_equal(g711.table_ulaw_decode(ALL_CODES), expected)
    assert np.array_equal(g711.ulaw_decode(ALL_CODES), expected)


def test_alaw_encode_matches_audioop() -> None:
    assert (
        g711.table_alaw_encode(ALL_SAMPLES)
        == g711.alaw_encode(ALL_SAMPLES)
        == audioop.lin2alaw(ALL_SAMPLES.tobytes(), 2)
    )


def test_alaw_decode_matches_audioop() -> None:
    expected = np.frombuffer(audioop.alaw2lin(ALL_CODES, 2), dtype=np.int16)
    assert np.array_equal(g711.table_alaw_decode(ALL_CODES), expected)
    assert np.array_equal(g711.alaw_decode(ALL_CODES), expected)


@pytest.mark.parametrize("name", [CodecName.PCMU, CodecName.PCMA])
def test_codec_decode_encode_is_identity_on_codes(name: CodecName) -> None:
    codec = AudioCodec(name)
    expected = bytearray(ALL_CODES)
    if name is CodecName.PCMU:
        expected[0x7F] = 0xFF  # mu-law's negative zero decodes to 0, which encodes as +0
    assert codec.encode(codec.decode(ALL_CODES)) == bytes(expected)


def test_l16_big_endian_round_trip() -> None:
    codec = AudioCodec(CodecName.L16, big_endian=True)
    wire = codec.encode(ALL_SAMPLES)
    assert wire[:2] == b"\x80\x00"
    assert np.array_equal(codec.decode(wire), ALL_SAMPLES)
