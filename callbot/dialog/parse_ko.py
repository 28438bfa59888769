"""Korean parsers for typed answers ("네", "아니요", "일이삼", "내일", "오후 세 시 반")."""

from __future__ import annotations

import datetime as dt
import re

from callbot.dialog import numerals_ko as num
from callbot.dialog.parse_en import DateGuess

# Longest first, so "아니요" is not read as "아니" + "요".
_YES = ("네네", "네", "예", "넵", "넹", "응", "어", "맞아요", "맞습니다", "맞아", "맞아요",
        "그래요", "그렇습니다", "그럼요", "좋아요", "좋습니다", "알겠습니다", "물론이죠", "물론",
        "그렇죠", "맞죠", "해주세요", "부탁드려요", "부탁합니다", "있어요", "있습니다")  # fmt: skip
_NO = ("아니요", "아니오", "아뇨", "아닙니다", "아니에요", "아니야", "아니", "틀려요", "틀렸어요",
       "틀립니다", "싫어요", "안 돼요", "안돼요", "없어요", "없습니다", "괜찮아요", "됐어요",
       "그게 아니라", "아닌데요", "아닌데")  # fmt: skip
_LEAD_FILLERS = re.compile(r"^(?:(?:음|어|저|그|아|흠)[\s,.…]+)+")
_PUNCT = re.compile(r"[,.!?~…]+")


def normalise(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text).split())


def yes_no(text: str) -> tuple[bool, str] | None:
    """(answer, rest): "네" -> yes; "아니요, 사오육이요" -> (no, "사오육이요")."""
    t = normalise(_LEAD_FILLERS.sub("", text.strip()))
    if not t:
        return None
    for phrases, value in ((_NO, False), (_YES, True)):
        for phrase in sorted(phrases, key=len, reverse=True):
            if t.startswith(phrase):
                rest = t[len(phrase) :].strip()
                # "네 개", "어디" etc.: a yes word glued to a longer word is not an answer.
                if rest and not t[len(phrase)].isspace() and not _is_ending(rest):
                    continue
                return value, rest if not _is_ending(rest) else ""
    if any(w in t for w in ("아니", "틀렸", "틀려")):
        return False, ""
    if any(w in t for w in ("맞아", "맞습니다", "맞네", "그래요")):
        return True, ""
    return None


def _is_ending(rest: str) -> bool:
    return rest in ("", "요", "다", "죠")


_COUNTERS = re.compile(r"(원|개|명|장|번|살|세|달러)$")


def digits(text: str) -> str | None:
    return num.text_to_digits(text)


def number(text: str) -> int | None:
    t = _COUNTERS.sub("", normalise(text).replace(" ", ""))
    return num.text_to_int(t)


def phone(text: str) -> str | None:
    t = text.strip()
    plus = t.startswith("+")
    d = num.text_to_digits(t.lstrip("+").replace("(", " ").replace(")", " "))
    return None if d is None else ("+" if plus else "") + d


_RELATIVE = {"오늘": 0, "내일": 1, "모레": 2, "글피": 3, "어제": -1, "그저께": -2, "그제": -2}
_MONTH_IRREGULAR = {"유": 6, "시": 10}
_DATE_RE = re.compile(r"(?:(\S+?)\s*년\s*)?(\S+?)\s*월\s*(\S+?)\s*일")


def _mk(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _guess(value: dt.date | None) -> DateGuess | None:
    return DateGuess(value) if value is not None else None


def _full_year(y: int, today: dt.date) -> int:
    if y >= 100:
        return y
    return 2000 + y if 2000 + y <= today.year else 1900 + y


def date(text: str, today: dt.date) -> DateGuess | None:
    """내일, 1990년 3월 5일, 천구백구십년 삼월 오일, 구십년 삼월 오일, 900305 (YYMMDD), 1990.3.5."""
    t = normalise(text)
    for word, delta in sorted(_RELATIVE.items(), key=lambda kv: -len(kv[0])):
        if word in t:
            return DateGuess(today + dt.timedelta(days=delta))
    m = re.search(r"(\d{4})\s*[-.년/]\s*(\d{1,2})\s*[-.월/]\s*(\d{1,2})", text)
    if m:
        return _guess(_mk(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    m = _DATE_RE.search(t)
    if m:
        year_text, month_text, day_text = m.group(1), m.group(2), m.group(3)
        month = _MONTH_IRREGULAR.get(month_text) or num.sino_to_int(month_text)
        day = num.sino_to_int(day_text)
        if month is None or day is None:
            return None
        if year_text is None:
            value = _mk(today.year, month, day)
            return DateGuess(value, year_inferred=True) if value is not None else None
        year = num.sino_to_int(year_text)
        return _guess(_mk(_full_year(year, today), month, day)) if year is not None else None
    d = num.text_to_digits(t)
    if d is not None and len(d) in (6, 8):
        year = _full_year(int(d[:-4]), today)
        return _guess(_mk(year, int(d[-4:-2]), int(d[-2:])))
    return None


_TIME_RE = re.compile(r"(\S+?)\s*시(?:\s*(반|\S+?)\s*(?:분)?)?$")


def time(text: str) -> dt.time | None:
    """오후 세 시 반, 3시 30분, 세시 삼십분, 오전 열한시, 정오, 15:30."""
    t = normalise(text).removesuffix("요").removesuffix("에").strip()
    if "정오" in t:
        return dt.time(12, 0)
    if "자정" in t:
        return dt.time(0, 0)
    pm = any(w in t for w in ("오후", "저녁", "밤"))
    am = any(w in t for w in ("오전", "아침", "새벽"))
    t = re.sub(r"오후|오전|저녁|아침|새벽|밤|낮", "", t).strip()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", t)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2))
    else:
        m = _TIME_RE.search(t)
        if m is None:
            return None
        hour_value = num.text_to_int(m.group(1))
        if hour_value is None:
            return None
        hour = hour_value
        minute_text = m.group(2)
        if minute_text is None:
            minute = 0
        elif minute_text == "반":
            minute = 30
        else:
            mv = num.sino_to_int(minute_text.removesuffix("분"))
            if mv is None:
                return None
            minute = mv
    if not 0 <= hour <= 24 or not 0 <= minute < 60:
        return None
    if pm and hour < 12:
        hour += 12
    if am and hour == 12:
        hour = 0
    return dt.time(hour % 24, minute)


ORDINAL_CHOICE = {"첫": 0, "첫번째": 0, "첫 번째": 0, "두번째": 1, "두 번째": 1, "세번째": 2,
                  "세 번째": 2, "마지막": -1}  # fmt: skip
