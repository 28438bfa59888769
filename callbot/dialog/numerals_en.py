"""English numbers as Whisper writes them, both ways: text -> digits/ints, ints -> words."""

from __future__ import annotations

import re

UNITS = {
    "zero": 0, "oh": 0, "o": 0, "nought": 0, "nil": 0, "one": 1, "two": 2, "three": 3,
    "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
# Homophones Whisper produces for digits read one by one ("for five six").
HOMOPHONES = {"for": 4, "fore": 4, "to": 2, "too": 2, "won": 1, "ate": 8, "tree": 3, "free": 3}
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
REPEATS = {"double": 2, "triple": 3}
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip

_WORD = re.compile(r"\d+(?:st|nd|rd|th)\b|[a-z]+|\d+")
_FILLERS = frozenset(
    {"and", "a", "uh", "um", "er", "erm", "it's", "its", "is", "it", "my", "number", "the", "s"}
)


def tokens(text: str) -> list[str]:
    """Lower-case word and digit-run tokens; punctuation and hyphens split tokens."""
    return _WORD.findall(text.lower().replace("'", ""))


def _two_digit(toks: list[str], i: int) -> tuple[int, int] | None:
    """A number below 100 spelled with words at toks[i]: (value, tokens used)."""
    t = toks[i]
    if t in TEENS:
        return TEENS[t], 1
    if t in TENS:
        if i + 1 < len(toks) and toks[i + 1] in UNITS and toks[i + 1] not in ("oh", "o"):
            return TENS[t] + UNITS[toks[i + 1]], 2
        return TENS[t], 1
    return None


def text_to_digits(text: str, *, homophones: bool = True) -> str | None:
    """Digits said one by one or in groups ("4 5 6", "for five six", "double five",
    "forty five sixty seven", "1, 2, 3") as a digit string; None if anything else is said."""
    toks = [t for t in tokens(text) if t not in _FILLERS]
    out: list[str] = []
    i = 0
    repeat = 1
    while i < len(toks):
        t = toks[i]
        piece: str | None = None
        used = 1
        if t.isdigit():
            piece = t
        elif t in REPEATS:
            repeat = REPEATS[t]
            i += 1
            continue
        elif t in UNITS:
            piece = str(UNITS[t])
            if i + 1 < len(toks) and toks[i + 1] == "hundred":
                rest = _two_digit(toks, i + 2) if i + 2 < len(toks) else None
                if rest is not None:
                    piece, used = f"{UNITS[t]}{rest[0]:02d}", 2 + rest[1]
                elif i + 2 < len(toks) and toks[i + 2] in ("oh", "o") and i + 3 < len(toks):
                    if toks[i + 3] in UNITS:
                        piece, used = f"{UNITS[t]}0{UNITS[toks[i + 3]]}", 4
                    else:
                        piece, used = f"{UNITS[t]}00", 2
                else:
                    piece, used = f"{UNITS[t]}00", 2
        elif homophones and t in HOMOPHONES:
            piece = str(HOMOPHONES[t])
        else:
            two = _two_digit(toks, i)
            if two is None:
                return None
            piece, used = str(two[0]), two[1]
        out.append(piece * repeat)
        repeat = 1
        i += used
    if repeat != 1 or not out:
        return None
    return "".join(out)


def text_to_int(text: str) -> int | None:
    """A cardinal number ("1,250", "twelve hundred", "two thousand and five", "a hundred")."""
    compact = text.strip().lower().replace(",", "")
    if re.fullmatch(r"-?\d+", compact):
        return int(compact)
    toks = [t for t in tokens(text) if t not in ("and",)]
    if not toks:
        return None
    total = 0
    current = 0
    seen = False
    for i, t in enumerate(toks):
        if t.isdigit():
            current += int(t)
        elif t in UNITS and t not in ("oh", "o"):
            current += UNITS[t]
        elif t in TEENS:
            current += TEENS[t]
        elif t in TENS:
            current += TENS[t]
        elif t == "a" and i + 1 < len(toks) and toks[i + 1] in ("hundred", "thousand", "million"):
            current += 1
        elif t == "hundred":
            current = max(current, 1) * 100
        elif t == "thousand":
            total += max(current, 1) * 1000
            current = 0
        elif t == "million":
            total += max(current, 1) * 1_000_000
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def text_to_year(text: str) -> int | None:
    """A year as said: "1990", "nineteen ninety", "nineteen oh five", "twenty twenty four",
    "two thousand five"."""
    toks = tokens(text)
    if len(toks) == 1 and toks[0].isdigit() and len(toks[0]) == 4:
        return int(toks[0])
    if toks and toks[0] in TEENS | {"twenty": 20} and "thousand" not in toks:
        head = TEENS.get(toks[0], 20)
        rest = toks[1:]
        if rest and rest[0] in ("oh", "o") and len(rest) == 2 and rest[1] in UNITS:
            return head * 100 + UNITS[rest[1]]
        if rest == ["hundred"]:
            return head * 100
        low = text_to_int(" ".join(rest)) if rest else None
        if low is not None and 10 <= low < 100:
            return head * 100 + low
    value = text_to_int(text)
    if value is not None and 1000 <= value <= 2999:
        return value
    return None


def ordinal_to_int(word: str) -> int | None:
    """'5th', 'fifth', 'twenty-first' (as tokens joined by a space) -> 5, 5, 21."""
    m = re.fullmatch(r"(\d+)(?:st|nd|rd|th)?", word)
    if m:
        return int(m.group(1))
    toks = tokens(word)
    if len(toks) == 1 and toks[0] in ORDINALS:
        return ORDINALS[toks[0]]
    if len(toks) == 2 and toks[0] in TENS and toks[1] in ORDINALS and ORDINALS[toks[1]] < 10:
        return TENS[toks[0]] + ORDINALS[toks[1]]
    return None


_SMALL = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS_WORDS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def int_to_words(n: int) -> str:
    """456 -> 'four hundred fifty-six' (what a person says for a quantity)."""
    if n < 0:
        return "minus " + int_to_words(-n)
    if n < 20:
        return _SMALL[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _TENS_WORDS[tens] + (f"-{_SMALL[unit]}" if unit else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_SMALL[hundreds]} hundred" + (f" {int_to_words(rest)}" if rest else "")
    for size, name in ((1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand")):
        if n >= size:
            head, rest = divmod(n, size)
            return f"{int_to_words(head)} {name}" + (f" {int_to_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


_ORD_SUFFIX = {
    1: "first",
    2: "second",
    3: "third",
    5: "fifth",
    8: "eighth",
    9: "ninth",
    12: "twelfth",
}


def int_to_ordinal_words(n: int) -> str:
    """5 -> 'fifth', 21 -> 'twenty-first', 30 -> 'thirtieth'."""
    if n in _ORD_SUFFIX:
        return _ORD_SUFFIX[n]
    if n < 20:
        return _SMALL[n] + "th"
    tens, unit = divmod(n, 10)
    if unit == 0:
        return _TENS_WORDS[tens][:-1] + "ieth"
    return f"{_TENS_WORDS[tens]}-{int_to_ordinal_words(unit)}"


def year_to_words(year: int) -> str:
    """1990 -> 'nineteen ninety', 2005 -> 'two thousand five', 1905 -> 'nineteen oh five'."""
    if 2000 <= year < 2010:
        return int_to_words(year)
    high, low = divmod(year, 100)
    if low == 0:
        return f"{int_to_words(high)} hundred"
    if low < 10:
        return f"{int_to_words(high)} oh {_SMALL[low]}"
    return f"{int_to_words(high)} {int_to_words(low)}"
