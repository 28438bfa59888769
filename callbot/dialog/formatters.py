"""Slot values as people say them, per language; a fixed set, no user code.

Digits are read one by one ("4 5 6", never "four hundred fifty-six"); Korean uses
Sino-Korean numerals for digits, dates, minutes and amounts, and native numerals
for hours and counted things (세 시, 두 장).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from callbot.dialog import numerals_en as en
from callbot.dialog import numerals_ko as ko
from callbot.dialog.inputs import SlotValue

Formatter = Callable[[SlotValue, str | None], str]

_EN_DIGIT = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_EN_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
_KO_MONTHS = ["일", "이", "삼", "사", "오", "유", "칠", "팔", "구", "시", "십일", "십이"]


class FormatError(ValueError):
    """A value cannot be spoken with the chosen formatter (wrong type)."""


def _digits_of(value: SlotValue) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FormatError(f"expected digits, got {type(value).__name__}")
    return "".join(c for c in str(value) if c.isdigit())


def _int_of(value: SlotValue) -> int:
    if isinstance(value, bool):
        raise FormatError("expected a number, got yes/no")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise FormatError(f"expected a number, got {type(value).__name__}")


def _date_of(value: SlotValue) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise FormatError("expected a date")


def _time_of(value: SlotValue) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            pass
    raise FormatError("expected a time")


# ----------------------------------------------------------------- English ---


def _en_digits(v: SlotValue, _: str | None) -> str:
    return " ".join(_EN_DIGIT[int(d)] for d in _digits_of(v))


def _en_last4(v: SlotValue, _: str | None) -> str:
    return _en_digits(_digits_of(v)[-4:], None)


def _en_phone(v: SlotValue, _: str | None) -> str:
    d = _digits_of(v)
    # Groups of three/four with a pause, the way numbers are read back.
    groups = [d[max(0, i - 4) : i] for i in range(len(d), 0, -4)][::-1] if len(d) > 4 else [d]
    return ", ".join(_en_digits(g, None) for g in groups)


def _en_number(v: SlotValue, _: str | None) -> str:
    return en.int_to_words(_int_of(v))


def _en_ordinal(v: SlotValue, _: str | None) -> str:
    return en.int_to_ordinal_words(_int_of(v))


def _en_amount(v: SlotValue, arg: str | None) -> str:
    n = _int_of(v)
    unit = arg or "dollars"
    if n == 1 and unit.endswith("s"):
        unit = unit[:-1]
    return f"{en.int_to_words(n)} {unit}"


def _en_date(v: SlotValue, _: str | None) -> str:
    d = _date_of(v)
    return f"{_EN_MONTHS[d.month - 1]} {en.int_to_ordinal_words(d.day)}, {en.year_to_words(d.year)}"


def _en_time(v: SlotValue, _: str | None) -> str:
    t = _time_of(v)
    if t.hour == 12 and t.minute == 0:
        return "noon"
    if t.hour == 0 and t.minute == 0:
        return "midnight"
    hour = t.hour % 12 or 12
    suffix = "a.m." if t.hour < 12 else "p.m."
    if t.minute == 0:
        return f"{en.int_to_words(hour)} {suffix}"
    minute = en.int_to_words(t.minute) if t.minute >= 10 else f"oh {_EN_DIGIT[t.minute]}"
    return f"{en.int_to_words(hour)} {minute} {suffix}"


def _en_yesno(v: SlotValue, _: str | None) -> str:
    return "yes" if v is True else "no"


# ------------------------------------------------------------------ Korean ---


def _ko_digits(v: SlotValue, _: str | None) -> str:
    return ko.digits_to_sino(_digits_of(v))


def _ko_last4(v: SlotValue, _: str | None) -> str:
    return ko.digits_to_sino(_digits_of(v)[-4:])


def _ko_phone(v: SlotValue, _: str | None) -> str:
    d = _digits_of(v)
    if len(d) == 11:  # 010-1234-5678
        parts = [d[:3], d[3:7], d[7:]]
    elif len(d) == 10:
        parts = [d[:3], d[3:6], d[6:]]
    else:
        parts = [d]
    return ", ".join(ko.digits_to_sino(p) for p in parts)


def _ko_number(v: SlotValue, _: str | None) -> str:
    return ko.int_to_sino(_int_of(v))


def _ko_count(v: SlotValue, arg: str | None) -> str:
    words = ko.int_to_native(_int_of(v))
    return f"{words} {arg}" if arg else words


def _ko_amount(v: SlotValue, arg: str | None) -> str:
    return f"{ko.int_to_sino(_int_of(v))} {arg or '원'}"


def _ko_date(v: SlotValue, _: str | None) -> str:
    d = _date_of(v)
    return f"{ko.int_to_sino(d.year)}년 {_KO_MONTHS[d.month - 1]}월 {ko.int_to_sino(d.day)}일"


def _ko_time(v: SlotValue, _: str | None) -> str:
    t = _time_of(v)
    part = "오전" if t.hour < 12 else "오후"
    hour = t.hour % 12 or 12
    out = f"{part} {ko.int_to_native(hour)} 시"
    if t.minute == 30:
        return out + " 반"
    return out + (f" {ko.int_to_sino(t.minute)} 분" if t.minute else "")


def _ko_yesno(v: SlotValue, _: str | None) -> str:
    return "네" if v is True else "아니요"


def _raw(v: SlotValue, _: str | None) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    return str(v)


FORMATTERS: dict[str, dict[str, Formatter]] = {
    "en": {
        "digits": _en_digits, "last4": _en_last4, "phone": _en_phone, "number": _en_number,
        "ordinal": _en_ordinal, "amount": _en_amount, "date": _en_date, "time": _en_time,
        "yesno": _en_yesno, "raw": _raw,
    },
    "ko": {
        "digits": _ko_digits, "last4": _ko_last4, "phone": _ko_phone, "number": _ko_number,
        "count": _ko_count, "amount": _ko_amount, "date": _ko_date, "time": _ko_time,
        "yesno": _ko_yesno, "raw": _raw,
    },
}  # fmt: skip


def default_formatter(value: SlotValue) -> str:
    """The formatter used when a placeholder names none."""
    if isinstance(value, bool):
        return "yesno"
    if isinstance(value, int):
        return "number"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    return "raw"


def speak(value: SlotValue, formatter: str | None, arg: str | None, language: str) -> str:
    """Render one value for speech; raise FormatError on a type mismatch."""
    table = FORMATTERS.get(language, FORMATTERS["en"])
    name = formatter or default_formatter(value)
    if name not in table:
        raise FormatError(f"no formatter {name!r} for language {language!r}")
    return table[name](value, arg)
