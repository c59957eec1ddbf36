"""Store file drops: detect the encoding (UTF-8, UTF-8 with BOM, GBK), parse the CSV, check every row
against the file's schema. Rows that fail are returned for quarantine with file, line, raw text and
reason; the rest of the file still loads."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from charset_normalizer import from_bytes

DATETIME = "%Y-%m-%d %H:%M:%S"


def _datetime(value: str) -> str:
    datetime.strptime(value, DATETIME)
    return value


def _date(value: str) -> str:
    datetime.strptime(value, "%Y-%m-%d")
    return value


def _decimal(value: str) -> str:
    try:
        Decimal(value)
    except InvalidOperation as error:
        raise ValueError(f"not a number: {value!r}") from error
    return value


def _required(value: str) -> str:
    if not value.strip():
        raise ValueError("empty")
    return value


def _pattern(regex: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} does not match {regex}")
        return value

    return check


def _optional(check: Callable[[str], str]) -> Callable[[str], str]:
    return lambda value: value if value == "" else check(value)


# The raw contract of each file kind: column → check. Values stay text; staging casts them.
SCHEMAS: dict[str, dict[str, Callable[[str], str]]] = {
    "pos": {
        "receipt_no": _required,
        "line_no": _pattern(r"\d+"),
        "store_id": _pattern(r"S\d{4}"),
        "sold_at": _datetime,
        "card_no": str,
        "phone": str,
        "salesperson": str,
        "sku": _required,
        "category": str,
        "qty": _pattern(r"-?\d+"),
        "unit_price": _decimal,
        "amount": _decimal,
    },
    "members": {
        "card_no": _required,
        "store_id": _pattern(r"S\d{4}"),
        "phone": str,
        "name": str,
        "gender": _pattern(r"[012]"),
        "birthday": _optional(_date),
        "registered_at": _datetime,
        "marketing_opt_in": _pattern(r"[YN]"),
    },
}


@dataclass
class ParsedFile:
    path: str
    kind: str
    encoding: str
    rows: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    duplicates: int = 0

    @property
    def lines_read(self) -> int:
        return len(self.rows) + len(self.quarantined) + self.duplicates


def detect_encoding(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for candidate in ("utf-8", "gbk"):
        try:
            raw.decode(candidate)
            return candidate
        except UnicodeDecodeError:
            continue
    best = from_bytes(raw).best()
    if best is None:
        raise ValueError("cannot detect the encoding")
    return best.encoding


def parse_store_file(path: Path, kind: str) -> ParsedFile:
    """Parse one drop file. Exact duplicate lines are counted and dropped; everything else that fails
    its schema is quarantined with its line number (1 = header) and reason."""
    schema = SCHEMAS[kind]
    raw = path.read_bytes()
    try:
        encoding = detect_encoding(raw)
    except ValueError as error:
        result = ParsedFile(str(path), kind, "unknown")
        result.quarantined.append({"file": str(path), "line": 0, "raw": raw[:200].hex(), "reason": str(error)})
        return result
    text = raw.decode(encoding)
    result = ParsedFile(str(path), kind, encoding)
    lines = text.splitlines()
    ends_cleanly = text.endswith(("\n", "\r"))
    if not lines:
        return result
    header = next(csv.reader([lines[0]]))
    if header != list(schema):
        result.quarantined.append(
            {
                "file": str(path),
                "line": 1,
                "raw": lines[0],
                "reason": f"unexpected header {header}, expected {list(schema)}",
            }
        )
        return result
    seen: set[str] = set()
    for number, line in enumerate(lines[1:], start=2):
        if line in seen:
            result.duplicates += 1
            continue
        seen.add(line)
        reason = None
        try:
            values = next(csv.reader(io.StringIO(line)))
        except (csv.Error, StopIteration) as error:
            values, reason = [], f"unparseable CSV: {error}"
        if reason is None and len(values) != len(schema):
            truncated = number == len(lines) and not ends_cleanly
            reason = (
                "truncated last line (file does not end with a newline)"
                if truncated
                else f"{len(values)} fields, expected {len(schema)}"
            )
        if reason is None:
            for (column, check), value in zip(schema.items(), values, strict=True):
                try:
                    check(value)
                except ValueError as error:
                    reason = f"{column}: {error}"
                    break
        if reason is None:
            result.rows.append(dict(zip(schema, values, strict=True)))
        else:
            result.quarantined.append({"file": str(path), "line": number, "raw": line, "reason": reason})
    return result
