"""Slot values spoken per language; templates; conditions."""

from __future__ import annotations

import datetime as dt

import pytest

from callbot.dialog.conditions import ConditionError, parse_condition
from callbot.dialog.formatters import speak
from callbot.dialog.inputs import SlotValue
from callbot.dialog.templates import TemplateError, parse_template


@pytest.mark.parametrize(
    ("value", "fmt", "arg", "lang", "want"),
    [
        ("456", "digits", None, "en", "four five six"),
        ("456", "digits", None, "ko", "사 오 육"),
        ("1234567890124567", "last4", None, "en", "four five six seven"),
        (456, "number", None, "en", "four hundred fifty-six"),
        (456, "number", None, "ko", "사백오십육"),
        (35000, "amount", None, "ko", "삼만 오천 원"),
        (1250, "amount", None, "en", "one thousand two hundred fifty dollars"),
        (2, "count", "장", "ko", "두 장"),
        (21, "count", "명", "ko", "스물한 명"),
        (dt.date(1990, 3, 5), "date", None, "en", "March fifth, nineteen ninety"),
        (dt.date(1990, 6, 5), "date", None, "ko", "천구백구십년 유월 오일"),
        (dt.date(2005, 10, 21), "date", None, "ko", "이천오년 시월 이십일일"),
        (dt.time(15, 30), "time", None, "ko", "오후 세 시 반"),
        (dt.time(9, 5), "time", None, "ko", "오전 아홉 시 오 분"),
        (dt.time(9, 5), "time", None, "en", "nine oh five a.m."),
        ("01012345678", "phone", None, "ko", "공 일 공, 일 이 삼 사, 오 육 칠 팔"),
        (True, "yesno", None, "ko", "네"),
    ],
)  # fmt: skip
def test_speak(value: SlotValue, fmt: str, arg: str | None, lang: str, want: str) -> None:
    assert speak(value, fmt, arg, lang) == want


def test_template_renders_and_redacts() -> None:
    t = parse_template("Card ending {card|last4}, born {dob}. {{literal}}")
    values: dict[str, SlotValue] = {"card": "4567", "dob": dt.date(1990, 3, 5)}
    assert (
        t.render(values, "en")
        == "Card ending four five six seven, born March fifth, nineteen ninety. {literal}"
    )
    assert "four" not in t.render(values, "en", lambda slot: slot == "card")
    assert t.slots == {"card", "dob"}


@pytest.mark.parametrize(("src", "col"), [("{a|", 1), ("x {a b}", 3), ("oops }", 6)])
def test_template_errors_have_columns(src: str, col: int) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(src)
    assert info.value.column == col


def test_conditions() -> None:
    c = parse_condition("confirmed == true and (reason in ['lost', 'stolen'] or age >= 18)")
    assert c.names == {"confirmed", "reason", "age"}
    assert c.evaluate({"confirmed": True, "reason": "lost"})
    assert not c.evaluate({"confirmed": True, "age": 10})
    assert not c.evaluate({"confirmed": True, "age": "x"})  # type mismatch is false, not a crash
    assert parse_condition("x is not set").evaluate({})
    assert parse_condition("dob < '2000-01-01'").evaluate({"dob": dt.date(1990, 3, 5)})
    assert parse_condition("reason not in ['a']").evaluate({"reason": "b"})


@pytest.mark.parametrize(
    ("src", "col"), [("a ==", 5), ("a = 1", 3), ("(a", 3), ("a b", 3), ("", 1)]
)
def test_condition_errors_have_columns(src: str, col: int) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(src)
    assert info.value.column == col
