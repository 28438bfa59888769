"""Typed input parsers, English and Korean, on the strings Whisper actually emits."""

from __future__ import annotations

import datetime as dt

import pytest

from callbot.dialog.inputs import Choice, ExpectSpec, InputType, parse_dtmf, parse_text

TODAY = dt.date(2026, 1, 10)
DIGITS4 = ExpectSpec(InputType.DIGITS, min_length=2, max_length=4)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("123", "123"),
        ("1, 2, 3", "123"),
        ("for five six", "456"),
        ("oh one two", "012"),
        ("double five", "55"),
        ("triple seven", "777"),
        ("4-5-6-7", "4567"),
        ("forty five sixty seven", "4567"),
        ("It's 4 5 6.", "456"),
        ("one two three", "123"),
    ],
)
def test_english_digits(text: str, want: str) -> None:
    parsed = parse_text(DIGITS4, text, "en", TODAY)
    assert parsed is not None and parsed.value == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("일이삼", "123"),
        ("하나 둘 셋", "123"),
        ("일 이 삼 사", "1234"),
        ("사오육이요", "456"),
        ("1, 2, 3", "123"),
        ("공일이", "012"),
    ],
)
def test_korean_digits(text: str, want: str) -> None:
    parsed = parse_text(DIGITS4, text, "ko", TODAY)
    assert parsed is not None and parsed.value == want


@pytest.mark.parametrize("text", ["hello", "12345", "1", "purple", ""])
def test_digits_rejects_wrong_length_and_words(text: str) -> None:
    assert parse_text(DIGITS4, text, "en", TODAY) is None


@pytest.mark.parametrize(
    ("lang", "text", "want", "rest"),
    [
        ("en", "yeah", True, ""),
        ("en", "Yes.", True, ""),
        ("en", "yep that's right", True, "that's right"),
        ("en", "nope", False, ""),
        ("en", "no, it's 4 5 6", False, "it's 4 5 6"),
        ("en", "that's wrong", False, ""),
        ("en", "no problem", True, ""),
        ("ko", "네", True, ""),
        ("ko", "네.", True, ""),
        ("ko", "예", True, ""),
        ("ko", "맞아요", True, ""),
        ("ko", "아니요", False, ""),
        ("ko", "아뇨", False, ""),
        ("ko", "아니요, 사오육이요", False, "사오육이요"),
    ],
)
def test_yes_no(lang: str, text: str, want: bool, rest: str) -> None:
    parsed = parse_text(ExpectSpec(InputType.YES_NO), text, lang, TODAY)
    assert parsed is not None and parsed.value is want and parsed.rest == rest


@pytest.mark.parametrize(
    ("lang", "text"), [("en", "I don't know"), ("en", "maybe"), ("ko", "글쎄요")]
)
def test_yes_no_unsure_is_no_answer(lang: str, text: str) -> None:
    assert parse_text(ExpectSpec(InputType.YES_NO), text, lang, TODAY) is None


@pytest.mark.parametrize(
    ("lang", "text", "want"),
    [
        ("en", "tomorrow", dt.date(2026, 1, 11)),
        ("en", "March 5th, 1990", dt.date(1990, 3, 5)),
        ("en", "the fifth of march nineteen ninety", dt.date(1990, 3, 5)),
        ("en", "march twenty first nineteen oh five", dt.date(1905, 3, 21)),
        ("en", "1990-03-05", dt.date(1990, 3, 5)),
        ("en", "3/5/1990", dt.date(1990, 3, 5)),
        ("en", "next friday", dt.date(2026, 1, 16)),
        ("ko", "내일", dt.date(2026, 1, 11)),
        ("ko", "모레", dt.date(2026, 1, 12)),
        ("ko", "1990년 3월 5일", dt.date(1990, 3, 5)),
        ("ko", "천구백구십년 삼월 오일", dt.date(1990, 3, 5)),
        ("ko", "구십년 시월 삼일", dt.date(1990, 10, 3)),
        ("ko", "900305", dt.date(1990, 3, 5)),
    ],
)
def test_dates(lang: str, text: str, want: dt.date) -> None:
    parsed = parse_text(ExpectSpec(InputType.DATE), text, lang, TODAY)
    assert parsed is not None and parsed.value == want


def test_past_range_rejects_future_and_moves_yearless_dates_back() -> None:
    past = ExpectSpec(InputType.DATE, date_range="past")
    assert parse_text(past, "tomorrow", "en", TODAY) is None
    parsed = parse_text(past, "March 5th", "en", TODAY)
    assert parsed is not None and parsed.value == dt.date(2025, 3, 5)


@pytest.mark.parametrize(
    ("lang", "text", "want"),
    [
        ("en", "3 pm", dt.time(15)),
        ("en", "half past three", dt.time(3, 30)),
        ("en", "quarter to four", dt.time(3, 45)),
        ("en", "15:30", dt.time(15, 30)),
        ("en", "noon", dt.time(12)),
        ("en", "ten oh five", dt.time(10, 5)),
        ("ko", "오후 세 시 반", dt.time(15, 30)),
        ("ko", "3시 30분", dt.time(3, 30)),
        ("ko", "오전 열한시", dt.time(11)),
        ("ko", "정오", dt.time(12)),
    ],
)
def test_times(lang: str, text: str, want: dt.time) -> None:
    parsed = parse_text(ExpectSpec(InputType.TIME), text, lang, TODAY)
    assert parsed is not None and parsed.value == want


@pytest.mark.parametrize(
    ("lang", "text", "want"),
    [
        ("en", "$1,250", 1250),
        ("en", "twelve hundred dollars", 1200),
        ("en", "a hundred", 100),
        ("ko", "삼만 오천 원", 35000),
        ("ko", "다섯 개", 5),
        ("ko", "스물셋", 23),
    ],
)
def test_numbers(lang: str, text: str, want: int) -> None:
    parsed = parse_text(ExpectSpec(InputType.NUMBER), text, lang, TODAY)
    assert parsed is not None and parsed.value == want


def test_number_bounds() -> None:
    spec = ExpectSpec(InputType.NUMBER, minimum=1, maximum=10)
    assert parse_text(spec, "eleven", "en", TODAY) is None
    assert parse_text(spec, "seven", "en", TODAY) is not None


@pytest.mark.parametrize(
    ("lang", "text", "want"),
    [
        ("en", "plus one five five five 123 4567", "+15551234567"),
        ("ko", "공일공 일이삼사 오육칠팔", "01012345678"),
        ("ko", "010-1234-5678", "01012345678"),
    ],
)
def test_phone(lang: str, text: str, want: str) -> None:
    parsed = parse_text(ExpectSpec(InputType.PHONE, min_length=7, max_length=15), text, lang, TODAY)
    assert parsed is not None and parsed.value == want


CHOICES = ExpectSpec(
    InputType.CHOICE,
    choices=(Choice("visa", ("비자",), "1"), Choice("mastercard", ("master card", "마스터"), "2")),
)


@pytest.mark.parametrize(
    ("lang", "text", "want"),
    [
        ("en", "it's a Visa", "visa"),
        ("en", "master card", "mastercard"),
        ("en", "the second one", "mastercard"),
        ("ko", "비자카드요", "visa"),
        ("ko", "마스터로 할게요", "mastercard"),
        ("en", "visa or master card", None),
    ],
)
def test_choice(lang: str, text: str, want: str | None) -> None:
    parsed = parse_text(CHOICES, text, lang, TODAY)
    assert (parsed.value if parsed else None) == want


def test_dtmf_per_type() -> None:
    assert parse_dtmf(ExpectSpec(InputType.YES_NO), "1", TODAY) is not None
    no = parse_dtmf(ExpectSpec(InputType.YES_NO), "2", TODAY)
    assert no is not None and no.value is False
    assert parse_dtmf(ExpectSpec(InputType.YES_NO), "3", TODAY) is None
    digits = parse_dtmf(DIGITS4, "4567", TODAY)
    assert digits is not None and digits.value == "4567"
    date = parse_dtmf(ExpectSpec(InputType.DATE), "19900305", TODAY)
    assert date is not None and date.value == dt.date(1990, 3, 5)
    assert parse_dtmf(ExpectSpec(InputType.DATE), "19901305", TODAY) is None
    choice = parse_dtmf(CHOICES, "2", TODAY)
    assert choice is not None and choice.value == "mastercard"
    assert parse_dtmf(ExpectSpec(InputType.TEXT), "12", TODAY) is None
