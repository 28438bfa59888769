"""PII redaction: card, phone, e-mail and Korean resident registration numbers.

Numbers are found as digits or as number words (English and Korean, sino and
native), so "four five three two ..." and "사 오 삼 이 ..." are caught as well
as "4532 ...". Text goes through `Redactor.text`; JSON-like values (records,
events) through `Redactor.value`; keyed digits spread over DTMF turns through
`Redactor.digits`. `RedactingFilter` applies the same to log records.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("card", "phone", "email", "rrn")

_EN_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
# Longest first so that "일곱" (7) wins over "일" (1).
_KO_WORDS = {
    "하나": "1", "다섯": "5", "여섯": "6", "일곱": "7", "여덟": "8", "아홉": "9",
    "공": "0", "영": "0", "일": "1", "이": "2", "삼": "3", "사": "4", "오": "5",
    "육": "6", "륙": "6", "칠": "7", "팔": "8", "구": "9", "둘": "2", "셋": "3", "넷": "4",
    "한": "1", "두": "2", "세": "3", "네": "4",
}  # fmt: skip
_EN_MULT = {"double": 2, "triple": 3}

_TOKEN = re.compile(
    r"(?P<digit>[0-9０-９])"
    r"|(?P<mult>\b(?:double|triple)\b)"
    r"|(?P<en>\b(?:" + "|".join(sorted(_EN_WORDS, key=len, reverse=True)) + r")\b)"
    r"|(?P<ko>" + "|".join(sorted(_KO_WORDS, key=len, reverse=True)) + r")",
    re.IGNORECASE,
)
# What may stand between two digits of one number: spaces, dashes, dots, "dash".
_SEPARATOR = re.compile(r"^(?:[\s\-.,/()+_]|\bdash\b|\band\b|에)*$", re.IGNORECASE)
_MAX_GAP = 8
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_SPOKEN_EMAIL = re.compile(
    r"\b[\w.]+(?:\s+(?:dot|점|닷)\s+\w+)*\s+(?:at|골뱅이|앳)\s+\w+(?:\s+(?:dot|점|닷)\s+\w+)+",
    re.IGNORECASE,
)


class RedactConfigError(ValueError):
    """An unknown redaction kind was configured."""


@dataclass(frozen=True)
class _Digit:
    value: str
    start: int
    end: int
    word: bool  # a number word, which is a group of its own


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def rrn_ok(digits: str) -> bool:
    """YYMMDD valid in the century its 7th digit (1-8) implies; no check digit."""
    if len(digits) != 13 or digits[6] not in "12345678":
        return False
    century = 1900 if digits[6] in "1256" else 2000
    year, month, day = century + int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def phone_ok(digits: str, plus: bool) -> bool:
    """E.164 with '+', national numbers starting 0 (Korea, Europe), NANP 10/11 digits."""
    n = len(digits)
    if plus:
        return 8 <= n <= 15
    if digits[0] == "0":
        return 9 <= n <= 11 and digits[1] != "0"
    nanp = digits[1:] if n == 11 and digits[0] == "1" else digits
    return len(nanp) == 10 and nanp[0] in "23456789" and nanp[3] in "23456789"


def _digit_runs(text: str) -> list[list[_Digit]]:
    """Maximal runs of digits (or number words) separated only by separators."""
    runs: list[list[_Digit]] = []
    run: list[_Digit] = []
    repeat = 1
    last_end = -1
    for m in _TOKEN.finditer(text):
        if run and (
            m.start() - last_end > _MAX_GAP or not _SEPARATOR.match(text[last_end : m.start()])
        ):
            runs.append(run)
            run = []
        last_end = m.end()
        if m.group("mult"):
            repeat = _EN_MULT[m.group("mult").lower()]
            continue
        if m.group("digit"):
            value = str(int(m.group("digit")))
        elif m.group("en"):
            value = _EN_WORDS[m.group("en").lower()]
        else:
            value = _KO_WORDS[m.group("ko")]
        for _ in range(repeat):
            run.append(_Digit(value, m.start(), m.end(), not m.group("digit")))
        repeat = 1
    if run:
        runs.append(run)
    return runs


class Redactor:
    """Masks the configured kinds of personal data; stateless and thread-safe."""

    def __init__(self, kinds: Iterable[str] = KINDS, mask: str = "[{kind}]") -> None:
        chosen = frozenset(k.strip() for k in kinds if k.strip())
        unknown = chosen - set(KINDS)
        if unknown:
            raise RedactConfigError(f"unknown redaction kinds {sorted(unknown)}; known: {KINDS}")
        self.kinds = chosen
        self._mask = mask

    @classmethod
    def from_csv(cls, kinds_csv: str) -> Redactor:
        return cls(kinds_csv.split(","))

    @property
    def enabled(self) -> bool:
        return bool(self.kinds)

    def mask(self, kind: str) -> str:
        return self._mask.format(kind=kind.upper())

    def classify(self, digits: str, plus: bool = False) -> str | None:
        """The kind of a whole digit string, or None."""
        card = "card" in self.kinds and 13 <= len(digits) <= 19 and luhn_ok(digits)
        if card and not ("rrn" in self.kinds and rrn_ok(digits)):
            return "card"
        if "rrn" in self.kinds and rrn_ok(digits):
            return "rrn"
        if "phone" in self.kinds and 8 <= len(digits) <= 15 and phone_ok(digits, plus):
            return "phone"
        return None

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, kind) of every match, not overlapping, in text order."""
        found: list[tuple[int, int, str]] = []
        if "email" in self.kinds:
            for pattern in (_EMAIL, _SPOKEN_EMAIL):
                found += [(m.start(), m.end(), "email") for m in pattern.finditer(text)]
        if self.kinds & {"card", "phone", "rrn"}:
            for run in _digit_runs(text):
                found += self._run_spans(text, run)
        found.sort()
        merged: list[tuple[int, int, str]] = []
        for span in found:
            if merged and span[0] < merged[-1][1]:
                prev = merged[-1]
                merged[-1] = (prev[0], max(prev[1], span[1]), prev[2])
            else:
                merged.append(span)
        return merged

    def _run_spans(self, text: str, run: list[_Digit]) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []
        digits = "".join(d.value for d in run)
        # A number starts and ends where a digit group does: never inside "4532015...".
        bounds = {0, len(run)} | {
            i for i in range(1, len(run)) if run[i].start != run[i - 1].end or run[i].word
        }
        bounds |= {i + 1 for i in range(len(run)) if run[i].word}
        i = 0
        while i < len(run):
            if i not in bounds:
                i += 1
                continue
            for length in range(min(19, len(run) - i), 7, -1):
                if i + length not in bounds:
                    continue
                plus = run[i].start > 0 and text[run[i].start - 1] == "+"
                kind = self.classify(digits[i : i + length], plus)
                if kind is not None:
                    start = run[i].start - (1 if plus else 0)
                    spans.append((start, run[i + length - 1].end, kind))
                    i += length
                    break
            else:
                i += 1
        return spans

    def text(self, text: str) -> str:
        if not self.kinds or not text:
            return text
        spans = self.spans(text)
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        for start, end, kind in spans:
            out += [text[pos:start], self.mask(kind)]
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def digits(self, keyed: list[str]) -> list[str]:
        """Keyed digits (one DTMF key each): those forming a number become '*'."""
        if not self.kinds or not keyed:
            return keyed
        joined = "".join(k if k.isdigit() else " " for k in keyed)
        masked = list(keyed)
        for start, end, _ in self.spans(joined):
            for i in range(start, end):
                if masked[i].isdigit():
                    masked[i] = "*"
        return masked

    def value(self, value: Any, keep: frozenset[str] = frozenset()) -> Any:
        """A copy of a JSON-like value with every string redacted, except under `keep` keys."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: v if k in keep else self.value(v, keep) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v, keep) for v in value]
        return value


class RedactingFilter(logging.Filter):
    """Redacts a log record's message, string extras and traceback in place.

    Attach it to handlers (not loggers: records propagated from child loggers
    skip a parent logger's filters). The traceback moves to the `exc` extra,
    redacted, which the JSON formatter writes as it does every extra.
    """

    _STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        r = self._redactor
        if not r.enabled:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = r.text(message), None
        for key, value in list(vars(record).items()):
            if key not in self._STANDARD and not key.startswith("_"):
                setattr(record, key, r.value(value))
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc = r.text(text)
            record.exc_info, record.exc_text = None, None
        return True
