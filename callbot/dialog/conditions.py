"""The branch condition grammar: parsed once at load time, evaluated without eval().

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := operand [ ("=="|"!="|"<"|"<="|">"|">=") operand
                       | ["not"] "in" "[" literal ("," literal)* "]"
                       | "is" ["not"] "set" ]
    operand := name("." name)* | string | number | true | false | null | "(" expr ")"

A name is a slot (or ``caller.key`` for caller metadata); an unset slot is
None. Comparisons between values that cannot be ordered are false rather than
errors, so a live call never dies on a type mismatch.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Value = str | int | float | bool | None | dt.date | dt.time


class ConditionError(ValueError):
    """A condition does not parse; ``column`` is 1-based inside the condition."""

    def __init__(self, column: int, message: str) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column


_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*))"
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "set", "true", "false", "null"})


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, str, op, name, kw, end
    text: str
    col: int


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if m is None or m.end() == pos:
            col = pos + len(src[pos:]) - len(src[pos:].lstrip()) + 1
            raise ConditionError(col, f"unexpected character {src[col - 1]!r}")
        kind = m.lastgroup or "op"
        text = m.group(kind)
        col = m.start(kind) + 1
        if kind == "name" and text in _KEYWORDS:
            kind = "kw"
        toks.append(_Tok(kind, text, col))
        pos = m.end()
    toks.append(_Tok("end", "", len(src) + 1))
    return toks


Node = Callable[[Mapping[str, Value]], Value]


def _coerce_pair(a: Value, b: Value) -> tuple[Value, Value]:
    # A date/time slot compared with a literal 'YYYY-MM-DD' / 'HH:MM' string.
    if isinstance(a, dt.date) and isinstance(b, str):
        try:
            return a, dt.date.fromisoformat(b)
        except ValueError:
            return a, b
    if isinstance(a, dt.time) and isinstance(b, str):
        try:
            return a, dt.time.fromisoformat(b)
        except ValueError:
            return a, b
    if isinstance(b, (dt.date, dt.time)) and isinstance(a, str):
        b2, a2 = _coerce_pair(b, a)
        return a2, b2
    return a, b


def _compare(op: str, a: Value, b: Value) -> bool:
    a, b = _coerce_pair(a, b)
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    try:
        if op == "<":
            return a < b  # type: ignore[operator]
        if op == "<=":
            return a <= b  # type: ignore[operator]
        if op == ">":
            return a > b  # type: ignore[operator]
        return a >= b  # type: ignore[operator]
    except TypeError:
        return False


def _or(left: Node, right: Node) -> Node:
    return lambda ns: bool(left(ns)) or bool(right(ns))


def _and(left: Node, right: Node) -> Node:
    return lambda ns: bool(left(ns)) and bool(right(ns))


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.i = 0
        self.names: set[str] = set()

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.take()
        if tok.text != text or tok.kind == "str":
            raise ConditionError(tok.col, f"expected {text!r}, found {tok.text or 'end'!r}")
        return tok

    def parse(self) -> Node:
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise ConditionError(tok.col, f"unexpected {tok.text!r}")
        return node

    def expr(self) -> Node:
        left = self.and_()
        while self.peek().kind == "kw" and self.peek().text == "or":
            self.take()
            right = self.and_()
            left = _or(left, right)
        return left

    def and_(self) -> Node:
        left = self.not_()
        while self.peek().kind == "kw" and self.peek().text == "and":
            self.take()
            right = self.not_()
            left = _and(left, right)
        return left

    def not_(self) -> Node:
        if self.peek().kind == "kw" and self.peek().text == "not":
            self.take()
            inner = self.not_()
            return lambda ns: not inner(ns)
        return self.compare()

    def compare(self) -> Node:
        left = self.operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.operand()
            op = tok.text
            return lambda ns: _compare(op, left(ns), right(ns))
        if tok.kind == "kw" and tok.text == "is":
            self.take()
            negate = False
            if self.peek().kind == "kw" and self.peek().text == "not":
                self.take()
                negate = True
            self.expect("set")
            return lambda ns: (left(ns) is None) == negate
        negate_in = False
        if tok.kind == "kw" and tok.text == "not" and self.toks[self.i + 1].text == "in":
            self.take()
            negate_in = True
            tok = self.peek()
        if tok.kind == "kw" and tok.text == "in":
            self.take()
            items = self.literal_list()
            return lambda ns: any(_compare("==", left(ns), v) for v in items) != negate_in
        return left

    def literal_list(self) -> list[Value]:
        self.expect("[")
        items: list[Value] = []
        while True:
            items.append(self.literal())
            tok = self.take()
            if tok.text == "]" and tok.kind == "op":
                return items
            if tok.text != "," or tok.kind != "op":
                raise ConditionError(tok.col, f"expected ',' or ']', found {tok.text or 'end'!r}")

    def literal(self) -> Value:
        tok = self.take()
        if tok.kind == "num":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "str":
            return tok.text[1:-1]
        if tok.kind == "kw" and tok.text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[tok.text]
        raise ConditionError(tok.col, f"expected a literal, found {tok.text or 'end'!r}")

    def operand(self) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.text == "(":
            self.take()
            inner = self.expr()
            self.expect(")")
            return inner
        if tok.kind == "name":
            self.take()
            name = tok.text
            self.names.add(name)
            return lambda ns: ns.get(name)
        value = self.literal()
        return lambda ns: value


@dataclass(frozen=True)
class Condition:
    """A parsed condition; ``names`` are the slots it reads (for flow checks)."""

    source: str
    names: frozenset[str]
    _fn: Node

    def evaluate(self, namespace: Mapping[str, Value]) -> bool:
        return bool(self._fn(namespace))


def parse_condition(source: str) -> Condition:
    """Parse a condition; raise ConditionError with a column on bad syntax."""
    if not source.strip():
        raise ConditionError(1, "empty condition")
    parser = _Parser(source)
    fn = parser.parse()
    return Condition(source, frozenset(parser.names), fn)
