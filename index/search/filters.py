"""Metadata filters: one record (`Filter`) parsed from the CLI/HTTP syntax or from the Python dict form.

Text form (`verbatim ask --where`, the HTTP API's `where`, the web app's filter box); one clause each:

    year>=2024            = != > >= < <=     (numbers compare as numbers, ISO dates as dates)
    publisher=CSIS        text compares without regard to case
    publisher~CSIS        text that contains CSIS (without regard to case)
    tags in [a, b]        any of the values ("b c" or 'b,c' quoted when a value has a comma or space)
    publisher=CSIS | publisher=WOLA        `|` joins alternatives (OR) within one clause

Several clauses are joined by AND. Dict form (the Python API), the same conditions:

    {"year": {"$gte": 2024}, "publisher": "CSIS", "tags": {"$in": ["a", "b"]},
     "$or": [{"publisher": "CSIS"}, {"publisher": "WOLA"}]}

A field is one of the document's metadata fields, else its citation fields (title, authors, publisher,
date, url, source (= url), file, id, added). A field a document lacks never matches (`!=` included).
A list-valued field (tags, authors) matches when any of its values does. A partial date is the whole
period it names: date=2024 holds 2024-05-03, date<=2024-05 holds 2024-05-31.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "~", "in")
_DICT_OPERATORS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<=", "$contains": "~", "$in": "in"}
_FIELD = r"[A-Za-z_][A-Za-z0-9_.\-]*"
_CLAUSE = re.compile(rf"^\s*(?P<field>{_FIELD})\s*(?:(?P<op>>=|<=|!=|=|>|<|~)|\s(?P<in>in)\s)\s*(?P<value>.*?)\s*$", re.S)
_DATE = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?(?:[T ][0-9:.+\-Z]*)?$")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
SYNTAX = "write FIELD=VALUE, FIELD~TEXT, FIELD>=NUMBER or DATE, FIELD in [A, B], alternatives joined by |"


class FilterError(ValueError):
    """A filter that cannot be read; the message (one line) says what is wrong and how to write it."""


@dataclass(frozen=True)
class Condition:
    """One field compared with a value (`in`: a tuple of values)."""

    field: str
    op: str
    value: object

    def matches(self, fields: Mapping[str, object]) -> bool:
        if self.field not in fields:
            return False
        found = fields[self.field]
        values = found if isinstance(found, (list, tuple)) else [found]
        if self.op == "!=":
            return bool(values) and not any(_compare(v, "=", self.value) for v in values)
        wanted = self.value if self.op == "in" else (self.value,)
        op = "=" if self.op == "in" else self.op
        return any(_compare(v, op, w) for v in values for w in wanted)

    def to_dict(self) -> dict:
        op = next(k for k, v in _DICT_OPERATORS.items() if v == self.op)
        return {self.field: {op: list(self.value) if self.op == "in" else self.value}}


@dataclass(frozen=True)
class AllOf:
    """Every part matches (AND)."""

    parts: tuple[Node, ...]

    def matches(self, fields: Mapping[str, object]) -> bool:
        return all(p.matches(fields) for p in self.parts)

    def to_dict(self) -> dict:
        return {"$and": [p.to_dict() for p in self.parts]}


@dataclass(frozen=True)
class AnyOf:
    """At least one part matches (OR)."""

    parts: tuple[Node, ...]

    def matches(self, fields: Mapping[str, object]) -> bool:
        return any(p.matches(fields) for p in self.parts)

    def to_dict(self) -> dict:
        return {"$or": [p.to_dict() for p in self.parts]}


Node = Condition | AllOf | AnyOf


@dataclass(frozen=True)
class Filter:
    """Which documents a search may quote: a tree of conditions over each document's fields."""

    root: Node

    def matches(self, fields: Mapping[str, object]) -> bool:
        """Whether a document with these fields (see `document_fields`) passes."""
        return self.root.matches(fields)

    def to_dict(self) -> dict:
        """The dict form (what `parse_filter` reads back)."""
        return self.root.to_dict()

    @property
    def key(self) -> str:
        """A canonical text of the filter: equal filters have equal keys (what caches are keyed by)."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    def __str__(self) -> str:
        return _text(self.root)


def _text(node: Node) -> str:
    if isinstance(node, Condition):
        if node.op == "in":
            return f"{node.field} in [{', '.join(_value_text(v) for v in node.value)}]"
        return f"{node.field}{node.op}{_value_text(node.value)}"
    joiner = " AND " if isinstance(node, AllOf) else " | "
    return joiner.join(f"({_text(p)})" if not isinstance(p, Condition) else _text(p) for p in node.parts)


def _value_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) and re.search(r"[\s,|\[\]\"']", value) else str(value)


# ---------------------------------------------------------------- comparing values


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        return float(value)
    return None


def _is_date(value: str) -> bool:
    """An ISO date or a part of one: 2024, 2024-05, 2024-05-31, 2024-05-31T10:00."""
    return bool(_DATE.match(value.strip()))


def _ordered(a: object, b: object) -> int:
    """-1, 0 or 1, or raise TypeError when a and b cannot be compared."""
    x, y = _number(a), _number(b)
    if not isinstance(a, bool) and not isinstance(b, bool) and _is_date(str(a)) and _is_date(str(b)) and ("-" in str(a) or "-" in str(b)):
        # ISO text sorts as dates do; a partial date stands for its whole period, so compare the common prefix.
        left, right = str(a).strip(), str(b).strip()
        n = min(len(left), len(right))
        left, right = left[:n], right[:n]
        return (left > right) - (left < right)
    if x is not None and y is not None:
        return (x > y) - (x < y)
    if isinstance(a, str) and isinstance(b, str):
        left, right = a.casefold(), b.casefold()
        return (left > right) - (left < right)
    if isinstance(a, bool) and isinstance(b, bool):
        return (a > b) - (a < b)
    raise TypeError


def _compare(found: object, op: str, wanted: object) -> bool:
    if op == "~":
        return isinstance(found, str) and str(wanted).casefold() in found.casefold()
    try:
        order = _ordered(found, wanted)
    except TypeError:
        return False
    return {"=": order == 0, ">": order > 0, ">=": order >= 0, "<": order < 0, "<=": order <= 0}[op]


# ---------------------------------------------------------------- parsing


def _scalar(text: str) -> object:
    """A value as written: quoted text stays text, a bare number is a number, true/false are booleans."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if _NUMBER.match(text):
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _split_list(text: str) -> list[str]:
    """Items of `a, "b c", 'd'`: commas outside quotes separate."""
    items, current, quote = [], "", ""
    for ch in text:
        if quote:
            current += ch
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            current += ch
            quote = ch
        elif ch == ",":
            items.append(current)
            current = ""
        else:
            current += ch
    if quote:
        raise FilterError(f"an unclosed quote in [{text}]; close it, e.g. tags in [\"a b\", c]")
    items.append(current)
    return [i for i in (x.strip() for x in items) if i]


def _split_alternatives(text: str) -> list[str]:
    """`a | b`: a bar outside quotes and brackets separates alternatives."""
    parts, current, quote, depth = [], "", "", 0
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return parts


def _parse_clause(text: str) -> Condition:
    m = _CLAUSE.match(text)
    if not m or not m["value"]:
        raise FilterError(f"cannot read the filter {text.strip()!r}; {SYNTAX}")
    field, value = m["field"], m["value"]
    if m["in"]:
        if not (value.startswith("[") and value.endswith("]")):
            raise FilterError(f"the values of {field} in … go in brackets: {field} in [a, b]")
        items = [_scalar(v) for v in _split_list(value[1:-1])]
        if not items:
            raise FilterError(f"{field} in [] lists no value; give at least one: {field} in [a, b]")
        return Condition(field, "in", tuple(items))
    op = m["op"]
    parsed = _scalar(value)
    if op in (">", ">=", "<", "<=") and _number(parsed) is None and not _is_date(str(parsed)):
        raise FilterError(f"{field}{op}{value}: a range needs a number or an ISO date (2024, 2024-05, 2024-05-31)")
    return Condition(field, op, parsed)


def parse_where(clauses: Iterable[str]) -> Filter | None:
    """The filter of `--where` clauses (AND of them; `|` within one is OR); None for no clause.

    Raises FilterError (one line) on bad syntax.
    """
    nodes: list[Node] = []
    for clause in clauses:
        if not clause.strip():
            continue
        alternatives = [_parse_clause(a) for a in _split_alternatives(clause)]
        nodes.append(alternatives[0] if len(alternatives) == 1 else AnyOf(tuple(alternatives)))
    if not nodes:
        return None
    return Filter(nodes[0] if len(nodes) == 1 else AllOf(tuple(nodes)))


def _from_dict(spec: object, where: str) -> Node:
    if not isinstance(spec, Mapping) or not spec:
        raise FilterError(f"{where}: a filter is a non-empty dict such as {{\"year\": {{\"$gte\": 2024}}}}, not {spec!r}")
    nodes: list[Node] = []
    for key, value in spec.items():
        if key in ("$and", "$or"):
            if not isinstance(value, (list, tuple)) or not value:
                raise FilterError(f"{where}: {key} takes a non-empty list of filters")
            parts = tuple(_from_dict(v, f"{where}.{key}[{i}]") for i, v in enumerate(value))
            nodes.append(AllOf(parts) if key == "$and" else AnyOf(parts))
        elif key.startswith("$"):
            raise FilterError(f"{where}: unknown operator {key!r}; at the top use $and or $or, on a field {', '.join(_DICT_OPERATORS)}")
        elif not re.fullmatch(_FIELD, key):
            raise FilterError(f"{where}: {key!r} is not a field name (letters, digits, _ . -)")
        elif isinstance(value, Mapping):
            if not value:
                raise FilterError(f"{where}: {key!r} has no condition; write {{\"{key}\": {{\"$gte\": 2024}}}}")
            for op, operand in value.items():
                if op not in _DICT_OPERATORS:
                    raise FilterError(f"{where}: unknown operator {op!r} on {key!r}; use one of {', '.join(_DICT_OPERATORS)}")
                nodes.append(_condition(key, _DICT_OPERATORS[op], operand, where))
        elif isinstance(value, (list, tuple)):
            nodes.append(_condition(key, "in", value, where))
        else:
            nodes.append(_condition(key, "=", value, where))
    return nodes[0] if len(nodes) == 1 else AllOf(tuple(nodes))


def _condition(field: str, op: str, operand: object, where: str) -> Condition:
    if op == "in":
        if not isinstance(operand, (list, tuple)) or not operand:
            raise FilterError(f"{where}: $in on {field!r} takes a non-empty list of values")
        if not all(isinstance(v, (str, int, float, bool)) for v in operand):
            raise FilterError(f"{where}: the values of $in on {field!r} must be text, numbers or booleans")
        return Condition(field, "in", tuple(operand))
    if hasattr(operand, "isoformat"):
        operand = operand.isoformat()  # a date or datetime compares as its ISO text
    if not isinstance(operand, (str, int, float, bool)):
        raise FilterError(f"{where}: {field!r} is compared with {operand!r}; give text, a number, a date or a boolean")
    if op in (">", ">=", "<", "<=") and _number(operand) is None and not _is_date(str(operand)):
        raise FilterError(f"{where}: {field} {op} {operand!r}: a range needs a number or an ISO date (2024, 2024-05, 2024-05-31)")
    return Condition(field, op, operand)


def parse_filter(spec: Filter | Mapping | str | Iterable[str] | None) -> Filter | None:
    """A Filter from any form: a Filter, the dict form, one text clause or several (AND); None passes through.

    Raises FilterError (one line) on bad syntax.
    """
    if spec is None or isinstance(spec, Filter):
        return spec
    if isinstance(spec, Mapping):
        return Filter(_from_dict(spec, "filter")) if spec else None
    if isinstance(spec, str):
        return parse_where([spec])
    return parse_where(list(spec))


# ---------------------------------------------------------------- what a filter lets through


def document_fields(meta) -> dict[str, object]:
    """The fields a filter reads of one source (an ingest.records.SourceMeta): its citation fields, then
    its own metadata, which wins on a clash (a document's "date" field is its own word)."""
    fields: dict[str, object] = {
        "file": meta.file,
        "title": meta.title,
        "authors": list(meta.authors),
        "publisher": meta.publisher,
        "date": meta.date,
        "url": meta.url,
        "source": meta.url,
        "added": meta.added,
        "id": meta.id,
    }
    fields = {k: v for k, v in fields.items() if v not in ("", [])}  # an unknown field is absent, not ""
    fields.update(meta.metadata)
    return fields


def matching_files(sources: Mapping[str, object], where: Filter) -> set[str]:
    """Names of the sources (file -> SourceRecord with .meta) that `where` lets through."""
    return {name for name, record in sources.items() if where.matches(document_fields(record.meta))}


def allowed_rows(index, where: Filter) -> np.ndarray:
    """A boolean mask over the passage rows of `index` (an IndexVersion): True for a passage of a source
    `where` lets through (a passage several sources share passes when any of them does)."""
    rows_of_file = index.rows_of_file()
    mask = np.zeros(len(index.passages), dtype=bool)
    picked = [rows_of_file[f] for f in matching_files(index.sources, where) if f in rows_of_file]
    if picked:
        mask[np.concatenate(picked)] = True
    mask.flags.writeable = False  # kept and shared by later searches
    return mask
