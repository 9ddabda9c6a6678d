"""A small, safe parser for Xero's `where` query parameter (never `eval`).

Xero's filter is a subset of .NET Dynamic LINQ. The forms Xero clients actually send are
supported:

    Status=="AUTHORISED" AND Type!="ACCPAY"
    Reference.Contains("SO-12") || Reference.StartsWith("SO-")
    Contact.ContactID==Guid("...")
    Date >= DateTime(2024, 01, 31) && Date < DateTime(2024,02,01)
    (Status=="DRAFT" OR Status=="SUBMITTED") AND IsCustomer==true

Field types come from the resource being filtered (`Field` specs), so comparisons are typed
the way Xero types them; anything else is a `WhereError` (a 400 ValidationException).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

STRING, GUID, DATE, DATETIME_MS = "string", "guid", "date", "datetime"
NUMBER, BOOL = "number", "bool"


class WhereError(ValueError):
    """The filter cannot be parsed or does not fit the resource."""


@dataclass(frozen=True)
class Field:
    kind: str
    get: Callable[[dict], Any]


def path_getter(path: str) -> Callable[[dict], Any]:
    parts = path.split(".")
    if len(parts) == 1:
        key = parts[0]
        return lambda doc: doc.get(key)

    def get(doc: dict) -> Any:
        value: Any = doc
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return get


def fields(**kinds: str) -> dict[str, Field]:
    """`fields(Status=STRING, Contact__ContactID=GUID)` -> field table (`__` is a dot)."""
    table = {}
    for name, kind in kinds.items():
        path = name.replace("__", ".")
        table[path.lower()] = Field(kind, path_getter(path))
    return table


# --- tokens --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|<>|<=|>=|&&|\|\||[=<>!(),.])
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | number | op | ident | end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise WhereError(
                f"Syntax error in where filter at position {pos}: {text[pos:pos + 20]!r}")
        kind = match.lastgroup or "op"
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# --- syntax tree ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Compare:
    field: str  # lower-cased field name
    op: str  # == != < > <= >=
    value: Any  # already converted to the field's type


@dataclass(frozen=True)
class Method:
    field: str
    name: str  # contains | startswith | endswith
    arg: str


@dataclass(frozen=True)
class And:
    left: Any
    right: Any


@dataclass(frozen=True)
class Or:
    left: Any
    right: Any


@dataclass(frozen=True)
class Not:
    inner: Any


@dataclass(frozen=True)
class Literal:
    kind: str  # string | guid | datetime | number | bool | null
    value: Any


_METHODS = {"contains", "startswith", "endswith"}
_OPS = {"==": "==", "=": "==", "!=": "!=", "<>": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}


class _Parser:
    def __init__(self, text: str, table: dict[str, Field], resource: str):
        self.tokens = tokenize(text)
        self.i = 0
        self.table = table
        self.resource = resource

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        if self.tok.text != text:
            raise WhereError(f"Expected '{text}' at position {self.tok.pos} in where filter")
        self.i += 1

    def parse(self) -> Any:
        node = self.or_expr()
        if self.tok.kind != "end":
            raise WhereError(
                f"Unexpected '{self.tok.text}' at position {self.tok.pos} in where filter")
        return node

    def _joiner(self, symbol: str, word: str) -> bool:
        token = self.tok
        return token.text == symbol or (token.kind == "ident" and token.text.upper() == word)

    def or_expr(self) -> Any:
        node = self.and_expr()
        while self._joiner("||", "OR"):
            self.take()
            node = Or(node, self.and_expr())
        return node

    def and_expr(self) -> Any:
        node = self.unary()
        while self._joiner("&&", "AND"):
            self.take()
            node = And(node, self.unary())
        return node

    def unary(self) -> Any:
        if self.tok.text == "!" or (self.tok.kind == "ident" and self.tok.text.upper() == "NOT"):
            self.take()
            return Not(self.unary())
        if self.tok.text == "(":
            self.take()
            node = self.or_expr()
            self.expect(")")
            return node
        return self.predicate()

    def field_path(self) -> tuple[list[str], int]:
        if self.tok.kind != "ident":
            raise WhereError(f"Expected a field name at position {self.tok.pos} in where filter")
        start = self.tok.pos
        parts = [self.take().text]
        while self.tok.text == ".":
            self.take()
            if self.tok.kind != "ident":
                raise WhereError(f"Expected a name after '.' at position {self.tok.pos}")
            parts.append(self.take().text)
        return parts, start

    def lookup(self, name: str) -> Field:
        field = self.table.get(name.lower())
        if field is None:
            raise WhereError(f"No property or field '{name}' exists in type '{self.resource}'")
        return field

    def predicate(self) -> Any:
        parts, _ = self.field_path()
        if self.tok.text == "(" and parts[-1].lower() in _METHODS and len(parts) > 1:
            name = ".".join(parts[:-1])
            field = self.lookup(name)
            self.take()
            arg = self.literal()
            self.expect(")")
            if arg.kind != "string":
                raise WhereError(f"{parts[-1]}() takes a quoted string in where filter")
            if field.kind != STRING:
                raise WhereError(f"{parts[-1]}() needs a text field; '{name}' is not one")
            return Method(name.lower(), parts[-1].lower(), arg.value)
        name = ".".join(parts)
        field = self.lookup(name)
        if self.tok.text not in _OPS:
            if field.kind == BOOL:  # `IsCustomer` alone means `IsCustomer==true`
                return Compare(name.lower(), "==", True)
            raise WhereError(f"Expected a comparison after '{name}' in where filter")
        op = _OPS[self.take().text]
        value = self.literal()
        return Compare(name.lower(), op, _convert(name, field.kind, op, value))

    def literal(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            return Literal("string", _unescape(token.text[1:-1]))
        if token.kind == "number":
            return Literal("number", Decimal(token.text))
        if token.kind == "ident":
            word = token.text.lower()
            if word in ("true", "false"):
                return Literal("bool", word == "true")
            if word == "null":
                return Literal("null", None)
            if word == "guid":
                self.expect("(")
                inner = self.literal()
                self.expect(")")
                if inner.kind != "string":
                    raise WhereError("Guid() takes a quoted string in where filter")
                return Literal("guid", inner.value.lower())
            if word == "datetime":
                return Literal("datetime", self.datetime_args())
        raise WhereError(f"Expected a value at position {token.pos} in where filter")

    def datetime_args(self) -> datetime:
        self.expect("(")
        numbers: list[int] = []
        while True:
            token = self.take()
            if token.kind != "number" or "." in token.text:
                raise WhereError("DateTime() takes whole numbers: DateTime(2024, 01, 31)")
            numbers.append(int(token.text))
            if self.tok.text == ",":
                self.take()
                continue
            self.expect(")")
            break
        if len(numbers) not in (3, 5, 6):
            raise WhereError("DateTime() takes year, month, day[, hour, minute[, second]]")
        try:
            return datetime(*numbers)  # Xero's filter dates carry no time zone
        except ValueError as exc:
            raise WhereError(f"Invalid DateTime in where filter: {exc}") from exc


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _convert(name: str, kind: str, op: str, literal: Literal) -> Any:
    if literal.kind == "null":
        if op not in ("==", "!="):
            raise WhereError(f"Operator '{op}' cannot compare '{name}' with null")
        return None
    ordered = op in ("<", ">", "<=", ">=")
    if kind == STRING:
        if literal.kind not in ("string", "guid"):
            raise WhereError(f"Operator '{op}' incompatible with operand types 'String' and "
                             f"'{literal.kind.title()}' for '{name}'")
        return literal.value
    if kind == GUID:
        if literal.kind not in ("string", "guid") or ordered:
            raise WhereError(f"'{name}' is a Guid: compare it with == or != and Guid(\"...\")")
        return str(literal.value).lower()
    if kind in (DATE, DATETIME_MS):
        if literal.kind == "datetime":
            moment = literal.value
        elif literal.kind == "string":
            try:
                moment = datetime.fromisoformat(literal.value)
            except ValueError as exc:
                raise WhereError(f"'{literal.value}' is not a date for '{name}'") from exc
        else:
            raise WhereError(f"'{name}' is a date: compare it with DateTime(year, month, day)")
        if kind == DATE:
            return moment.date().isoformat() if isinstance(moment, datetime) else moment
        return int((moment - datetime(1970, 1, 1)).total_seconds() * 1000)
    if kind == NUMBER:
        if literal.kind != "number":
            raise WhereError(f"'{name}' is a number: compare it with a number")
        return literal.value
    if kind == BOOL:
        if literal.kind != "bool" or ordered:
            raise WhereError(f"'{name}' is true/false: compare it with == true or == false")
        return literal.value
    raise WhereError(f"'{name}' cannot be filtered")


# --- compiled filters ----------------------------------------------------------------------

Predicate = Callable[[dict], bool]


def _normalise(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == GUID:
        return str(value).lower()
    if kind == NUMBER:
        try:
            return Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            return None
    if kind == DATE and isinstance(value, date):
        return value.isoformat()
    return value


def _compile(node: Any, table: dict[str, Field]) -> Predicate:
    if isinstance(node, And):
        left, right = _compile(node.left, table), _compile(node.right, table)
        return lambda doc: left(doc) and right(doc)
    if isinstance(node, Or):
        left, right = _compile(node.left, table), _compile(node.right, table)
        return lambda doc: left(doc) or right(doc)
    if isinstance(node, Not):
        inner = _compile(node.inner, table)
        return lambda doc: not inner(doc)
    if isinstance(node, Method):
        get = table[node.field].get
        arg = node.arg
        if node.name == "contains":
            return lambda doc: arg in (get(doc) or "")
        if node.name == "startswith":
            return lambda doc: (get(doc) or "").startswith(arg)
        return lambda doc: (get(doc) or "").endswith(arg)
    assert isinstance(node, Compare)
    field = table[node.field]
    get, kind, want, op = field.get, field.kind, node.value, node.op

    def compare(doc: dict) -> bool:
        have = _normalise(kind, get(doc))
        if op == "==":
            return have == want
        if op == "!=":
            return have != want
        if have is None or want is None:
            return False
        if op == "<":
            return have < want
        if op == ">":
            return have > want
        if op == "<=":
            return have <= want
        return have >= want

    return compare


@dataclass(frozen=True)
class Where:
    tree: Any
    predicate: Predicate

    def __call__(self, doc: dict) -> bool:
        return self.predicate(doc)

    def lookups(self, indexed: Iterable[str]) -> list[tuple[str, Any]] | None:
        """Equality tests an index can answer, whose union covers every match; else None.

        Lets `Reference=="X"` or `InvoiceNumber=="A" OR InvoiceNumber=="B"` touch only the
        candidates instead of scanning every document of the organisation.
        """
        return _lookups(self.tree, {name.lower() for name in indexed})


def _lookups(node: Any, indexed: set[str]) -> list[tuple[str, Any]] | None:
    if isinstance(node, Compare):
        if node.op == "==" and node.field in indexed and node.value is not None:
            return [(node.field, node.value)]
        return None
    if isinstance(node, And):
        left = _lookups(node.left, indexed)
        return left if left is not None else _lookups(node.right, indexed)
    if isinstance(node, Or):
        left, right = _lookups(node.left, indexed), _lookups(node.right, indexed)
        if left is None or right is None:
            return None
        return left + right
    return None


def parse_where(text: str, table: dict[str, Field], resource: str) -> Where:
    if len(text) > 4000:
        raise WhereError("The where filter is too long")
    tree = _Parser(text, table, resource).parse()
    return Where(tree, _compile(tree, table))
