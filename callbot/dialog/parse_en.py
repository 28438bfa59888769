"""English parsers for typed answers, tuned to what Whisper writes for short replies."""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

from callbot.dialog import numerals_en as num

_YES_START = (
    "yes", "yeah", "yea", "yep", "yup", "ya", "sure", "correct", "right", "okay", "ok",
    "absolutely", "affirmative", "exactly", "definitely", "certainly", "uh huh", "mhm",
    "that's right", "thats right", "that is right", "that's correct", "that is correct",
    "of course", "please do", "go ahead", "indeed", "yes please", "sounds good", "i do",
    "no problem",
)  # fmt: skip
_NO_START = (
    "no", "nope", "nah", "negative", "incorrect", "wrong", "not really", "no way",
    "that's wrong", "thats wrong", "that is wrong", "that's not right", "that's incorrect",
    "not correct", "not right", "i don't", "i do not", "don't", "do not", "it's not", "it isn't",
)  # fmt: skip
_UNSURE = ("don't know", "dont know", "not sure", "no idea", "i forgot", "can't remember")
# Longest phrase first across both lists, so "no problem" beats "no".
_PHRASES = sorted(
    [(p, True) for p in _YES_START] + [(p, False) for p in _NO_START], key=lambda pv: -len(pv[0])
)
_LEAD_FILLERS = re.compile(r"^(?:(?:uh|um|er|erm|well|oh|so|hmm)[\s,.!]+)+", re.I)
_NORM = re.compile(r"[^\w'\s]+")


def normalise(text: str) -> str:
    """Lower case, punctuation as spaces, single spaces."""
    return " ".join(_NORM.sub(" ", text.lower()).split())


def yes_no(text: str) -> tuple[bool, str] | None:
    """(answer, the rest of the utterance) for "yeah", "no, it's 4 5 6", "that's correct"."""
    t = normalise(_LEAD_FILLERS.sub("", text.strip()))
    if not t:
        return None
    if any(phrase in t for phrase in _UNSURE):
        return None
    for phrase, value in _PHRASES:
        if t == phrase or t.startswith(phrase + " "):
            rest = t[len(phrase) :].strip()
            if value and rest.startswith(("not ", "wrong", "incorrect")):
                return False, rest
            return value, rest
    words = set(t.split())
    negated = bool(words & {"not", "isn't", "don't", "doesn't", "wrong", "incorrect", "no"})
    affirmed = bool(words & {"yes", "yeah", "correct", "right", "yep"})
    if negated:
        return (False, "") if affirmed or "wrong" in words or "incorrect" in words else None
    return (True, "") if affirmed else None


def digits(text: str) -> str | None:
    return num.text_to_digits(text)


_CURRENCY = re.compile(r"[$£€]|\b(?:dollars?|pounds?|euros?|bucks|cents?)\b", re.I)


def number(text: str) -> int | None:
    t = _CURRENCY.sub(" ", text).strip().rstrip(".")
    value = num.text_to_int(t)
    if value is None:
        d = num.text_to_digits(t, homophones=False)
        value = int(d) if d else None
    return value


def phone(text: str) -> str | None:
    t = text.strip()
    plus = bool(re.match(r"^\s*(\+|plus\b)", t, re.I))
    t = re.sub(r"^\s*(\+|plus\b)", "", t, flags=re.I)
    d = num.text_to_digits(t.replace("(", " ").replace(")", " "))
    if d is None:
        return None
    return ("+" if plus else "") + d


MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
_RELATIVE_DAYS = {"today": 0, "tomorrow": 1, "yesterday": -1}
_DATE_FILLERS = frozenset({"the", "of", "on", "born", "in", "i", "was", "its", "it", "is", "my"})
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _mk_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _year(words: list[str], today: dt.date) -> int | None:
    if len(words) == 1 and words[0].isdigit() and len(words[0]) == 2:
        yy = int(words[0])
        return 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    return num.text_to_year(" ".join(words))


class DateGuess(NamedTuple):
    """A parsed date; ``year_inferred`` when the caller did not say the year."""

    value: dt.date
    year_inferred: bool = False


def _said(value: dt.date | None) -> DateGuess | None:
    return DateGuess(value) if value is not None else None


def date(text: str, today: dt.date) -> DateGuess | None:
    """ "tomorrow", "March 5th, 1990", "the fifth of march nineteen ninety", "1990-03-05",
    "3/5/1990" (US order), "next friday"; a missing year is resolved by the caller."""
    t = normalise(text)
    if t.replace("the day after tomorrow", "x") == "x":
        return DateGuess(today + dt.timedelta(days=2))
    for word, delta in _RELATIVE_DAYS.items():
        if re.search(rf"\b{word}\b", t):
            return DateGuess(today + dt.timedelta(days=delta))
    m = re.search(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if m:
        return _said(_mk_date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    m = re.search(r"\b(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b", text)
    if m:
        y = _year([m.group(3)], today)
        return _said(_mk_date(y, int(m.group(1)), int(m.group(2)))) if y else None
    toks = [w for w in num.tokens(text) if w not in _DATE_FILLERS]
    for i, w in enumerate(toks):
        if w in _WEEKDAYS and (i == 0 or toks[i - 1] in ("next", "this", "on")):
            ahead = (_WEEKDAYS.index(w) - today.weekday()) % 7 or 7
            return DateGuess(today + dt.timedelta(days=ahead))
    idx = next((i for i, w in enumerate(toks) if w in MONTHS), None)
    if idx is None:
        return None
    month = MONTHS[toks[idx]]
    before, after = toks[:idx], toks[idx + 1 :]
    if before:
        day = num.ordinal_to_int(" ".join(before))
        year = _year(after, today) if after else None
        if day is None or (after and year is None):
            return None
        return _said(_mk_date(year, month, day)) if year else _no_year(month, day, today)
    for k in (1, 2):
        if len(after) < k:
            break
        day = num.ordinal_to_int(" ".join(after[:k]))
        if day is None or not 1 <= day <= 31:
            continue
        rest = after[k:]
        if not rest:
            return _no_year(month, day, today)
        year = _year(rest, today)
        if year is not None:
            return _said(_mk_date(year, month, day))
    return None


def _no_year(month: int, day: int, today: dt.date) -> DateGuess | None:
    # Year left out: this year; the range check in inputs.py may move it.
    value = _mk_date(today.year, month, day)
    return DateGuess(value, year_inferred=True) if value is not None else None


_HOUR_WORDS = {"noon": (12, 0), "midday": (12, 0), "midnight": (0, 0)}


def time(text: str) -> dt.time | None:
    """ "3 pm", "3:30", "15:30", "three thirty", "half past three", "quarter to four", "noon"."""
    t = normalise(text).replace("o'clock", "").replace("oclock", "")
    t = re.sub(r"\b([ap])\s?\.?\s?m\b", r"\1m", t)
    for word, (fixed_h, fixed_m) in _HOUR_WORDS.items():
        if re.search(rf"\b{word}\b", t):
            return dt.time(fixed_h, fixed_m)
    meridiem = "pm" if re.search(r"\bpm\b|\bevening\b|\bafternoon\b", t) else None
    if re.search(r"\bam\b|\bmorning\b", t):
        meridiem = "am"
    t = re.sub(r"\b(am|pm|in the morning|in the evening|in the afternoon|at)\b", " ", t).strip()
    hour: int | None = None
    minute: int | None = 0
    m = re.fullmatch(r"(\d{1,2})[:. ](\d{2})", t) or re.fullmatch(r"(\d{1,2})", t)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2)) if m.lastindex == 2 else 0
    else:
        rel = re.fullmatch(r"(half|quarter|[\w ]+?) (past|after|to) ([\w ]+)", t)
        if rel:
            mins = {"half": 30, "quarter": 15}.get(rel.group(1)) or num.text_to_int(rel.group(1))
            base = num.text_to_int(rel.group(3))
            if mins is None or base is None:
                return None
            hour, minute = (base, mins) if rel.group(2) != "to" else (base - 1, 60 - mins)
        else:
            words = t.split()
            for k in (1, 2):
                h = num.text_to_int(" ".join(words[:k]))
                rest = " ".join(words[k:])
                mi = num.text_to_int(rest) if rest else 0
                if rest.startswith(("oh ", "o ")):
                    mi = num.text_to_int(rest.split(" ", 1)[1])
                if h is not None and mi is not None and h <= 24 and mi < 60:
                    hour, minute = h, mi
                    break
    if hour is None or minute is None or not 0 <= hour <= 24 or not 0 <= minute < 60:
        return None
    if meridiem == "pm" and hour < 12:
        hour += 12
    if meridiem == "am" and hour == 12:
        hour = 0
    return dt.time(hour % 24, minute)


ORDINAL_CHOICE = {"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1}
