"""Korean numbers both ways.

Korean has two numeral systems and speech needs the right one: Sino-Korean
(일 이 삼) for digits read one by one, dates, minutes, amounts and phone numbers;
native Korean (하나 둘 셋, attributive 한 두 세) for hours and counted things.
"""

from __future__ import annotations

import re

SINO_DIGITS = {"영": 0, "공": 0, "빵": 0, "일": 1, "이": 2, "삼": 3, "사": 4, "오": 5,
               "육": 6, "륙": 6, "칠": 7, "팔": 8, "구": 9}  # fmt: skip
SINO_SMALL_UNITS = {"십": 10, "백": 100, "천": 1000}
SINO_BIG_UNITS = {"만": 10_000, "억": 100_000_000}
# Native numerals and their attributive forms (한 시, 두 장, 세 번, 네 개).
NATIVE_UNITS = {"하나": 1, "한": 1, "둘": 2, "두": 2, "셋": 3, "세": 3, "석": 3, "넷": 4,
                "네": 4, "다섯": 5, "여섯": 6, "일곱": 7, "여덟": 8, "아홉": 9}  # fmt: skip
NATIVE_TENS = {"열": 10, "스물": 20, "스무": 20, "서른": 30, "마흔": 40, "쉰": 50,
               "예순": 60, "일흔": 70, "여든": 80, "아흔": 90}  # fmt: skip

_SINO_WORD = "영일이삼사오육칠팔구"
_NATIVE_ATTR = ["", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉"]
_NATIVE_TENS_WORDS = ["", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔"]
_PUNCT = re.compile(r"[\s,.\-·!?~]+")


def _native_token(tok: str) -> list[int] | None:
    """One spaced token of native numerals ("하나", "열다섯", "하나둘셋") as a digit list."""
    out: list[int] = []
    i = 0
    while i < len(tok):
        for word, value in sorted((NATIVE_TENS | NATIVE_UNITS).items(), key=lambda kv: -len(kv[0])):
            if tok.startswith(word, i):
                i += len(word)
                if value >= 10:
                    unit = 0
                    for uword, uvalue in sorted(NATIVE_UNITS.items(), key=lambda kv: -len(kv[0])):
                        if tok.startswith(uword, i):
                            unit, i = uvalue, i + len(uword)
                            break
                    out.extend(int(c) for c in str(value + unit))
                else:
                    out.append(value)
                break
        else:
            return None
    return out


def text_to_digits(text: str) -> str | None:
    """Digits read one by one: "일이삼", "일 이 삼", "하나 둘 셋", "공일공", "123", "1, 2, 3"."""
    toks = [t for t in _PUNCT.split(text.strip()) if t]
    toks = [t.removesuffix("번").removesuffix("이요").removesuffix("요") or t for t in toks]
    out: list[str] = []
    for tok in toks:
        if tok.isdigit():
            out.append(tok)
        elif all(c in SINO_DIGITS for c in tok):
            out.extend(str(SINO_DIGITS[c]) for c in tok)
        else:
            native = _native_token(tok)
            if native is None:
                return None
            out.extend(str(d) for d in native)
    return "".join(out) or None


def sino_to_int(text: str) -> int | None:
    """Sino-Korean or mixed numbers: "천구백구십" 1990, "삼만 오천" 35000, "3만5천" 35000."""
    s = _PUNCT.sub("", text)
    if not s:
        return None
    if s.isdigit():
        return int(s)
    total = 0
    group = 0
    current: int | None = None
    i = 0
    while i < len(s):
        c = s[i]
        if c.isdigit():
            j = i
            while j < len(s) and s[j].isdigit():
                j += 1
            current = int(s[i:j])
            i = j
            continue
        if c in SINO_DIGITS:
            current = SINO_DIGITS[c]
        elif c in SINO_SMALL_UNITS:
            group += (current if current is not None else 1) * SINO_SMALL_UNITS[c]
            current = None
        elif c in SINO_BIG_UNITS:
            group += current or 0
            total += (group or 1) * SINO_BIG_UNITS[c]
            group, current = 0, None
        else:
            return None
        i += 1
    return total + group + (current or 0)


def native_to_int(text: str) -> int | None:
    """Native numbers up to 99: "스물셋" 23, "열두" 12, "세" 3."""
    s = _PUNCT.sub("", text)
    digits = _native_token(s) if s else None
    if digits is None or len(digits) > 2:
        return None
    return int("".join(str(d) for d in digits))


def text_to_int(text: str) -> int | None:
    """A quantity in either system, or in Arabic digits."""
    value = sino_to_int(text)
    return value if value is not None else native_to_int(text)


def int_to_sino(n: int) -> str:
    """456 -> '사백오십육', 10000 -> '만', 35000 -> '삼만 오천' (spaced at 만)."""
    if n == 0:
        return "영"
    if n < 0:
        return "마이너스 " + int_to_sino(-n)
    parts: list[str] = []
    for size, name in ((100_000_000, "억"), (10_000, "만"), (1, "")):
        head, n = divmod(n, size)
        if head:
            words = _sino_below_10000(head)
            # "만", not "일만", as people say it; but "일억".
            if name == "만" and head == 1:
                words = ""
            parts.append(words + name)
    return " ".join(parts)


def _sino_below_10000(n: int) -> str:
    out = ""
    for size, name in ((1000, "천"), (100, "백"), (10, "십")):
        head, n = divmod(n, size)
        if head:
            out += ("" if head == 1 else _SINO_WORD[head]) + name
    if n:
        out += _SINO_WORD[n]
    return out


def int_to_native(n: int) -> str:
    """Attributive native numeral for 1..99 (한, 두, 세, 스무, 스물한); Sino above 99."""
    if not 1 <= n <= 99:
        return int_to_sino(n)
    tens, unit = divmod(n, 10)
    if unit == 0:
        return "스무" if tens == 2 else _NATIVE_TENS_WORDS[tens]
    return _NATIVE_TENS_WORDS[tens] + _NATIVE_ATTR[unit]


def digits_to_sino(digits: str, *, zero: str = "공") -> str:
    """'0104567' -> '공 일 공 사 오 육 칠': digits read one by one, zero as 공 on phones/cards."""
    return " ".join(zero if d == "0" else _SINO_WORD[int(d)] for d in digits if d.isdigit())
