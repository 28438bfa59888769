"""Typed expected inputs: one spec per `ask`, parsed from speech (EN/KO) or DTMF."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum

from callbot.dialog import parse_en, parse_ko

SlotValue = str | int | bool | dt.date | dt.time
LANGUAGES = ("en", "ko")


class InputType(StrEnum):
    YES_NO = "yes_no"
    DIGITS = "digits"
    NUMBER = "number"
    DATE = "date"
    TIME = "time"
    PHONE = "phone"
    CHOICE = "choice"
    INTENT = "intent"
    TEXT = "text"


@dataclass(frozen=True)
class Choice:
    """One allowed answer of a `choice` ask: its value, words that name it, its DTMF key."""

    name: str
    synonyms: tuple[str, ...] = ()
    dtmf: str | None = None


@dataclass(frozen=True)
class ExpectSpec:
    """What an ask expects. Lengths are for digits/phone, bounds for numbers,
    ``date_range`` ('past', 'future' or 'any') for dates."""

    type: InputType
    min_length: int = 1
    max_length: int = 32
    minimum: int | None = None
    maximum: int | None = None
    date_range: str = "any"
    choices: tuple[Choice, ...] = ()
    intents: tuple[str, ...] = ()
    # DTMF key -> intent name for intent asks ("press 1 to report a lost card").
    intent_dtmf: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Parsed:
    """A parsed answer; ``rest`` is what followed a yes/no ("no, it's 4 5 6" -> "it's 4 5 6")."""

    value: SlotValue
    rest: str = ""


def parse_text(spec: ExpectSpec, text: str, language: str, today: dt.date) -> Parsed | None:
    """Parse a caller utterance for ``spec``; None when it is not a valid answer.

    INTENT asks are matched by the NLU, not here, so they return None.
    """
    ko = language == "ko"
    t = text.strip()
    if not t:
        return None
    kind = spec.type
    if kind is InputType.YES_NO:
        yn = parse_ko.yes_no(t) if ko else parse_en.yes_no(t)
        return Parsed(yn[0], yn[1]) if yn is not None else None
    if kind is InputType.DIGITS:
        d = parse_ko.digits(t) if ko else parse_en.digits(t)
        return _check_length(spec, d)
    if kind is InputType.PHONE:
        p = parse_ko.phone(t) if ko else parse_en.phone(t)
        return _check_length(spec, p)
    if kind is InputType.NUMBER:
        n = parse_ko.number(t) if ko else parse_en.number(t)
        return _check_bounds(spec, n)
    if kind is InputType.DATE:
        guess = parse_ko.date(t, today) if ko else parse_en.date(t, today)
        if guess is None:
            return None
        return _check_date(spec, guess.value, today, year_inferred=guess.year_inferred)
    if kind is InputType.TIME:
        tm = parse_ko.time(t) if ko else parse_en.time(t)
        return Parsed(tm) if tm is not None else None
    if kind is InputType.CHOICE:
        name = match_choice(spec.choices, t, language)
        return Parsed(name) if name is not None else None
    if kind is InputType.TEXT:
        return Parsed(t)
    return None


def parse_dtmf(spec: ExpectSpec, digits: str, today: dt.date) -> Parsed | None:
    """Parse keyed digits (without the terminating '#') for ``spec``."""
    kind = spec.type
    if not digits or not re.fullmatch(r"[0-9*]+", digits):
        return None
    if kind is InputType.YES_NO:
        return {"1": Parsed(True), "2": Parsed(False)}.get(digits)
    if kind in (InputType.DIGITS, InputType.PHONE):
        return _check_length(spec, digits.replace("*", ""))
    if kind is InputType.NUMBER:
        return _check_bounds(spec, int(digits)) if digits.isdigit() else None
    if kind is InputType.DATE and digits.isdigit() and len(digits) in (6, 8):
        year = int(digits[:-4])
        if year < 100:
            year = 2000 + year if 2000 + year <= today.year else 1900 + year
        try:
            return _check_date(spec, dt.date(year, int(digits[-4:-2]), int(digits[-2:])), today)
        except ValueError:
            return None
    if kind is InputType.TIME and digits.isdigit() and len(digits) == 4:
        h, m = int(digits[:2]), int(digits[2:])
        return Parsed(dt.time(h, m)) if h < 24 and m < 60 else None
    if kind is InputType.CHOICE:
        return next((Parsed(c.name) for c in spec.choices if c.dtmf == digits), None)
    if kind is InputType.INTENT:
        return next((Parsed(i) for key, i in spec.intent_dtmf if key == digits), None)
    return None


def _check_length(spec: ExpectSpec, digits: str | None) -> Parsed | None:
    if digits is None:
        return None
    n = len(digits.lstrip("+"))
    return Parsed(digits) if spec.min_length <= n <= spec.max_length else None


def _check_bounds(spec: ExpectSpec, value: int | None) -> Parsed | None:
    if value is None:
        return None
    if spec.minimum is not None and value < spec.minimum:
        return None
    if spec.maximum is not None and value > spec.maximum:
        return None
    return Parsed(value)


def _check_date(
    spec: ExpectSpec, value: dt.date | None, today: dt.date, *, year_inferred: bool = False
) -> Parsed | None:
    if value is None:
        return None
    if spec.date_range == "past" and value > today and not year_inferred:
        return None
    if spec.date_range == "future" and value < today and not year_inferred:
        return None
    if spec.date_range == "past" and value > today:
        # "March 5th" with no year for a past date means the last March 5th.
        try:
            value = value.replace(year=value.year - 1)
        except ValueError:
            return None
        if value > today:
            return None
    if spec.date_range == "future" and value < today:
        try:
            value = value.replace(year=value.year + 1)
        except ValueError:
            return None
    return Parsed(value)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]+", " ", text.lower()).split())


def match_choice(choices: tuple[Choice, ...], text: str, language: str) -> str | None:
    """The one choice whose name or synonym the utterance contains, or its ordinal."""
    t = _norm(text)
    hits: set[str] = set()
    for choice in choices:
        for word in (choice.name, *choice.synonyms):
            w = _norm(word)
            if not w:
                continue
            # Korean attaches particles ("비자로요"), so a substring is a match there.
            found = w in t if language == "ko" else re.search(rf"\b{re.escape(w)}\b", t)
            if found:
                hits.add(choice.name)
    if len(hits) == 1:
        return hits.pop()
    if hits or not choices:
        return None
    ordinals = parse_ko.ORDINAL_CHOICE if language == "ko" else parse_en.ORDINAL_CHOICE
    for word, index in sorted(ordinals.items(), key=lambda kv: -len(kv[0])):
        said = re.search(rf"(^|\s){re.escape(word)}(\s|$)", t) or (language == "ko" and word in t)
        if said and -len(choices) <= index < len(choices):
            return choices[index].name
    return None
