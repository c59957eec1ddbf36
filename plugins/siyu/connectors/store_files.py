"""Drop files, read strictly: store POS and member CSVs, and the session-archive and visit-tracking JSONL.

The POS vendor's master data comes the same way: full snapshots of the store master and the staff list.

The contract (README "Store file contract", docs/decisions.md "Store file contract (issue 17)"):

- Encodings: UTF-8, UTF-8 with a BOM, GBK or GB18030. A file that does not decode cleanly in one of them
  is quarantined whole with the reason; no encoding is ever guessed.
- One CSV record per row, read by `csv` over the decoded text, so quoted line breaks stay inside their
  field. The header is matched by name (case, surrounding spaces and order do not matter); extra columns
  are ignored and noted; a missing or repeated required column quarantines the whole file.
- Every value is checked against its column's rule below (ASCII digits only, documented ranges, dates in
  a window). Values stay text: staging casts them, and anything that passes here casts.

Every record a file offers as a row is counted once: `lines_read = landed + quarantined + duplicates`.
Quarantined records carry the physical line they start on (1 = the first line of the file)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from siyu.config import STORE_ID_PATTERN

# Values a row may hold (documented in the README's store file contract).
QTY_LIMIT = 10_000  # |qty| per POS line; the busiest till sells single digits per line
AMOUNT_DIGITS = 9  # |amount|, |unit_price| < 10^9 yuan with at most 2 decimals: fits decimal(18, 2)
LINE_NO_DIGITS = 4  # line_no 1..9999 on one receipt
TEXT_LIMIT = 1_000  # characters in a free-text field (names, SKUs); longer is a broken export
HISTORY_START = date(1990, 1, 1)  # the oldest sale or registration a history import may carry
BIRTHDAY_START = date(1900, 1, 1)
FUTURE_SLACK = timedelta(days=366)  # tills with a wrong clock, and pre-registrations, up to a year ahead
RAW_LIMIT = 2_000  # characters of a rejected record kept in quarantine

# Control characters reject a row: they come from binary garbage or broken exports. Line and paragraph
# breaks (Excel's Alt+Enter, U+2028, NEL, form feed) and tab are text a person typed and stay verbatim.
KEPT_CONTROLS = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x85")
REJECTED_CONTROLS = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in KEPT_CONTROLS) + "]"
)
UTF8_BOM = b"\xef\xbb\xbf"
CJK = re.compile("[\u3400-\u9fff]")


class UnreadableFile(ValueError):
    """The file as a whole cannot be read under the contract; the message is the quarantine reason."""


def today_window(today: date | None = None) -> tuple[date, date]:
    """The dates a sale or registration may carry: history imports back to 1990, up to a year ahead."""
    today = today or date.today()
    return HISTORY_START, today + FUTURE_SLACK


def text_field(value: str) -> str:
    if len(value) > TEXT_LIMIT:
        raise ValueError(f"longer than {TEXT_LIMIT} characters")
    return value


def required_field(value: str) -> str:
    if not value.strip():
        raise ValueError("empty")
    return text_field(value)


def _pattern(regex: str) -> Callable[[str], str]:
    # re.ASCII and [0-9]: \d would accept full-width and Arabic-Indic digits that staging cannot cast.
    compiled = re.compile(regex, re.ASCII)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value[:50]!r} does not match {regex}")
        return value

    return check


def _in_window(day: date, first: date, last: date, value: str) -> None:
    if not first <= day <= last:
        raise ValueError(f"{value!r} is outside {first}..{last}")


_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})", re.ASCII)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)


def _moment(value: str, pattern: re.Pattern, shape: str) -> datetime:
    # Built from the digits rather than strptime: stricter (ASCII only) and several times faster.
    match = pattern.fullmatch(value)
    if match is None:
        raise ValueError(f"{value[:50]!r} is not {shape}")
    try:
        return datetime(*map(int, match.groups()))
    except ValueError as error:
        raise ValueError(f"{value!r}: {error}") from None


def _datetime(value: str) -> str:
    _in_window(_moment(value, _DATETIME, "YYYY-MM-DD HH:MM:SS").date(), *today_window(), value)
    return value


def _birthday(value: str) -> str:
    if value == "":
        return value
    _in_window(_moment(value, _DATE, "YYYY-MM-DD").date(), BIRTHDAY_START, date.today(), value)
    return value


def _opening_day(value: str) -> str:
    # Empty when the master does not know; a store may be listed before it opens (up to a year ahead).
    if value == "":
        return value
    _in_window(_moment(value, _DATE, "YYYY-MM-DD").date(), BIRTHDAY_START, date.today() + FUTURE_SLACK, value)
    return value


_QUANTITY = _pattern(r"-?[0-9]{1,5}")


def _quantity(value: str) -> str:
    _QUANTITY(value)
    if abs(int(value)) > QTY_LIMIT:
        raise ValueError(f"{value} is beyond ±{QTY_LIMIT}")
    return value


# Plain decimal notation only: no exponent, no NaN/Infinity, no thousands separators or underscores.
_amount = _pattern(rf"-?[0-9]{{1,{AMOUNT_DIGITS}}}(\.[0-9]{{1,2}})?")

# The raw contract of each CSV kind: column → check. Values stay text; staging casts them.
SCHEMAS: dict[str, dict[str, Callable[[str], str]]] = {
    "pos": {
        "receipt_no": required_field,
        "line_no": _pattern(rf"[1-9][0-9]{{0,{LINE_NO_DIGITS - 1}}}"),
        "store_id": _pattern(STORE_ID_PATTERN),
        "sold_at": _datetime,
        "card_no": text_field,
        "phone": text_field,
        "salesperson": text_field,
        "sku": required_field,
        "category": text_field,
        "qty": _quantity,
        "unit_price": _amount,
        "amount": _amount,
    },
    "members": {
        "card_no": required_field,
        "store_id": _pattern(STORE_ID_PATTERN),
        "phone": text_field,
        "name": text_field,
        "gender": _pattern(r"[012]"),
        "birthday": _birthday,
        "registered_at": _datetime,
        "marketing_opt_in": _pattern(r"[YN]"),
    },
}
# The store system's master data (issue 19): full snapshots of the store master (门店档案) and the staff
# list (导购档案), the names no other source carries. A staff member with no store is head office.
SCHEMAS["stores"] = {
    "store_id": _pattern(STORE_ID_PATTERN),
    "store_name": required_field,
    "city": text_field,
    "opened_on": _opening_day,
}
SCHEMAS["staff"] = {
    "userid": required_field,  # the POS salesperson and the WeCom userid: one account per guide
    "name": text_field,
    "store_id": _pattern(f"({STORE_ID_PATTERN})?"),
    "status": _pattern(r"active|resigned"),
}
# What makes two rows the same row (the lake's keys).
KEYS = {
    "pos": ("receipt_no", "line_no"),
    "members": ("card_no",),
    "stores": ("store_id",),
    "staff": ("userid",),
    "archive": ("msgid",),
    "tracking": ("visit_id",),
}


@dataclass
class ParsedFile:
    """One file's outcome. `lines_read` is counted as records are read, independently of where they went."""

    path: str
    kind: str
    encoding: str
    sha256: str = ""
    lines_read: int = 0
    rows: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    duplicates: int = 0
    reason: str | None = None  # set when the file was quarantined whole
    ignored_columns: list[str] = field(default_factory=list)

    def reject(self, line: int, raw: str, reason: str) -> None:
        if len(raw) > RAW_LIMIT:
            raw = f"{raw[:RAW_LIMIT]}… ({len(raw)} characters)"
        self.quarantined.append({"file": self.path, "line": line, "raw": raw, "reason": reason})


# --- encodings -------------------------------------------------------------------------------------------


def _decode_error(error: UnicodeDecodeError) -> str:
    return f"byte 0x{error.object[error.start]:02x} at offset {error.start}"


def detect_encoding(raw: bytes) -> str:
    """The contract's encoding the bytes decode cleanly in, else UnreadableFile with the reason.

    A BOM declares UTF-8, so a file with one is UTF-8 or nothing. Without one, UTF-8 is tried first, then
    GBK and GB18030 (its superset). A file that decodes as GB18030 only because UTF-8 Chinese happens to
    pair up into GB18030 characters is a mix of both, and rejected: a line that is well-formed UTF-8 with
    Chinese in it does not occur in a GBK export."""
    if raw.startswith(UTF8_BOM):
        try:
            raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise UnreadableFile(
                f"starts with a UTF-8 byte order mark but is not UTF-8 ({_decode_error(error)})"
            ) from None
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        utf8_error = _decode_error(error)
    for candidate in ("gbk", "gb18030"):
        try:
            raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(raw.split(b"\n"), start=1):
            if not line.isascii() and _is_utf8_chinese(line):
                raise UnreadableFile(f"mixes encodings: line {number} is UTF-8, other lines are not ({utf8_error})")
        return candidate
    raise UnreadableFile(f"not UTF-8 ({utf8_error}), GBK or GB18030")


def _is_utf8_chinese(line: bytes) -> bool:
    try:
        return bool(CJK.search(line.decode("utf-8")))
    except UnicodeDecodeError:
        return False


# --- whole-file rejection ----------------------------------------------------------------------------------


def physical_lines(raw: bytes) -> list[bytes]:
    lines = raw.split(b"\n")
    return lines[:-1] if lines and lines[-1] == b"" else lines


def quarantine_whole(raw: bytes, path: str, kind: str, reason: str, encoding: str = "unknown") -> ParsedFile:
    """A file that cannot be read: every physical line is quarantined with the reason, shown as UTF-8 with
    undecodable bytes escaped (a person can read it; nothing is guessed)."""
    result = ParsedFile(path, kind, encoding, sha256=hashlib.sha256(raw).hexdigest(), reason=reason)
    for number, line in enumerate(physical_lines(raw), start=1):
        result.lines_read += 1
        result.reject(number, line.rstrip(b"\r").decode("utf-8", errors="backslashreplace"), reason)
    return result


# --- CSV ---------------------------------------------------------------------------------------------------


@dataclass
class CsvRecord:
    line: int  # the physical line the record starts on
    raw: str  # its text, line break included
    fields: list[str] | None  # None when the CSV reader could not read it
    error: str | None = None


def csv_records(text: str) -> Iterator[CsvRecord]:
    """CSV records with their first physical line and raw text. Lines are split only where CSV splits them
    (\\r, \\n, \\r\\n), never at U+2028, NEL or form feed; a record the reader cannot read (a field over
    the csv module's limit) is yielded with its error and reading goes on."""
    source = io.StringIO(text, newline="")
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in source:
            consumed.append(line)
            yield line

    reader = csv.reader(lines())
    next_line = 1
    while True:
        try:
            fields, error = next(reader), None
        except StopIteration:
            return
        except csv.Error as exc:
            fields, error = None, f"unreadable CSV record: {exc}"
        raw, start, next_line = "".join(consumed), next_line, reader.line_num + 1
        consumed.clear()
        if fields == []:  # a blank line is not a row
            continue
        yield CsvRecord(start, raw, fields, error)


def _map_header(record: CsvRecord, schema: dict) -> tuple[dict[str, int], list[str]]:
    """Column → index, by name: trimmed, case-insensitive, any order. Raises UnreadableFile."""
    if record.fields is None:
        raise UnreadableFile(f"header: {record.error}")
    names = [cell.strip().lstrip("\ufeff").strip().lower() for cell in record.fields]
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in schema and name in index:
            raise UnreadableFile(f"header: column {name} appears twice")
        index.setdefault(name, position)
    missing = [column for column in schema if column not in index]
    if missing:
        raise UnreadableFile(f"header: missing columns {missing} (found {record.fields[:30]})")
    # Unnamed columns are Excel's trailing delimiters: ignored without a note.
    ignored = [record.fields[position] for position, name in enumerate(names) if name and name not in schema]
    return {column: index[column] for column in schema}, ignored


def _check_row(record: CsvRecord, schema: dict, index: dict[str, int], width: int) -> dict:
    """The row's values by column, or ValueError with the reason."""
    fields = record.fields or []
    if len(fields) < width:
        if not record.raw.endswith(("\n", "\r")):
            raise ValueError("truncated last line (file does not end with a newline)")
        raise ValueError(f"{len(fields)} fields, expected {width}")
    if any(value != "" for value in fields[width:]):
        raise ValueError(f"{len(fields)} fields, expected {width}")  # trailing empty fields are Excel's padding
    if "\x00" in record.raw:
        raise ValueError("NUL character")
    controls = REJECTED_CONTROLS.search(record.raw) is not None  # one search per record, columns only if needed
    row = {}
    for column, check in schema.items():
        value = fields[index[column]]
        if controls and (match := REJECTED_CONTROLS.search(value)):
            raise ValueError(f"{column}: control character U+{ord(match.group()):04X}")
        try:
            row[column] = check(value)
        except ValueError as error:
            raise ValueError(f"{column}: {error}") from None
    return row


class _Rows:
    """Valid rows of one file by key: an exact repeat is a duplicate; the same key with other values is a
    correction inside the file, so the later line lands and the earlier one is quarantined."""

    def __init__(self, result: ParsedFile, keys: tuple[str, ...]):
        self.result, self.keys = result, keys
        self.by_key: dict[tuple, tuple[int, str, dict]] = {}

    def add(self, line: int, raw: str, row: dict) -> None:
        key = tuple(row[k] for k in self.keys)
        if None in key:  # no key to compare on: the raw gate judges the row
            key = ("line", line)
        if (earlier := self.by_key.get(key)) is not None:
            if earlier[2] == row:
                self.result.duplicates += 1
                return
            self.result.reject(earlier[0], earlier[1], f"same {'/'.join(self.keys)} again on line {line}, which lands")
            del self.by_key[key]
        self.by_key[key] = (line, raw, row)

    def close(self) -> None:
        self.result.rows = [row for _, _, row in self.by_key.values()]


def parse_store_bytes(raw: bytes, path: str, kind: str) -> ParsedFile:
    """Parse one CSV drop file's bytes (the bytes that were hashed). Never raises for any content."""
    schema = SCHEMAS[kind]
    try:
        encoding = detect_encoding(raw)
    except UnreadableFile as error:
        return quarantine_whole(raw, path, kind, str(error))
    result = ParsedFile(path, kind, encoding, sha256=hashlib.sha256(raw).hexdigest())
    records = csv_records(raw.decode(encoding))
    header = next(records, None)
    if header is None:
        return result  # empty, or blank lines only: nothing offered
    try:
        index, result.ignored_columns = _map_header(header, schema)
    except UnreadableFile as error:
        # The whole file goes, header included, each record counted with its own line.
        result.reason = str(error)
        for record in [header, *records]:
            result.lines_read += 1
            result.reject(record.line, record.raw.rstrip("\r\n"), result.reason)
        return result
    width = len(header.fields or [])
    rows = _Rows(result, KEYS[kind])
    for record in records:
        result.lines_read += 1
        text = record.raw.rstrip("\r\n")
        try:
            if record.error:
                raise ValueError(record.error)
            rows.add(record.line, text, _check_row(record, schema, index, width))
        except ValueError as error:
            result.reject(record.line, text, str(error))
        except Exception as error:  # one record never stops the file
            result.reject(record.line, text, f"unexpected {type(error).__name__}: {error}")
    rows.close()
    return result


def parse_store_file(path: Path, kind: str) -> ParsedFile:
    return parse_store_bytes(Path(path).read_bytes(), str(path), kind)


# --- JSONL (session archive, visit tracking) ----------------------------------------------------------------


def _unix_seconds(name: str, divisor: int) -> Callable[[object], int]:
    """An integer (not a bool, not a float) whose unix seconds fall in the date window; fits int64."""

    def check(value: object) -> int:
        if type(value) is not int:
            raise ValueError(f"{name}: {str(value)[:30]!r} is not an integer")
        first, last = today_window()
        seconds = value // divisor
        low = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()) - 86_400
        high = int(datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp()) + 86_400
        if not low <= seconds <= high:
            raise ValueError(f"{name}: {str(value)[:30]} is outside {first}..{last}")
        return value

    return check


def _string(name: str) -> Callable[[object], object]:
    # None passes: whether a field may be missing is the raw quality gate's call, not the reader's.
    def check(value: object) -> object:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name}: {str(value)[:30]!r} is not a string")
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(f"{name}: NUL character")
        return value

    return check


def _strings(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not isinstance(value, list) or not all(isinstance(item, str) and "\x00" not in item for item in value):
            raise ValueError(f"{name}: not a list of strings")
        return value

    return check


JSONL_FIELDS: dict[str, dict[str, Callable[[object], object]]] = {
    "archive": {
        "msgid": _string("msgid"),
        "action": _string("action"),
        "from": _string("from"),
        "tolist": _strings("tolist"),
        "roomid": _string("roomid"),
        "msgtime": _unix_seconds("msgtime", 1000),  # the session archive counts milliseconds
        "msgtype": _string("msgtype"),
    },
    "tracking": {
        "visit_id": _string("visit_id"),
        "visitor_id": _string("visitor_id"),
        "visit_time": _unix_seconds("visit_time", 1),
        "source": _string("source"),
        "source_ref": _string("source_ref"),
    },
}


def _jsonl_row(line: bytes, kind: str) -> dict:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 ({_decode_error(error)})") from None
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not JSON: {str(error)[:200]}") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    row = {}
    for name, check in JSONL_FIELDS[kind].items():
        if name not in record:
            raise ValueError(f"missing key {name}")
        row[name] = check(record[name])
    if kind == "archive":
        body = record.get("text")
        if body is not None and not isinstance(body, dict):
            raise ValueError("text: not an object")
        row["content"] = _string("text.content")((body or {}).get("content")) or ""
    return row


def parse_jsonl_bytes(raw: bytes, path: str, kind: str) -> ParsedFile:
    """Session archive / visit tracking: one JSON object per line, UTF-8 (JSON's only encoding), each line
    judged on its own. Blank lines are not records. Never raises for any content."""
    result = ParsedFile(path, kind, "utf-8", sha256=hashlib.sha256(raw).hexdigest())
    if raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM) :]
        result.encoding = "utf-8-sig"
    rows = _Rows(result, KEYS[kind])
    for number, line in enumerate(physical_lines(raw), start=1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        result.lines_read += 1
        shown = line[: RAW_LIMIT * 4].decode("utf-8", errors="backslashreplace")
        try:
            rows.add(number, shown, _jsonl_row(line, kind))
        except ValueError as error:
            result.reject(number, shown, str(error))
        except Exception as error:  # one line never stops the file
            result.reject(number, shown, f"unexpected {type(error).__name__}: {error}")
    rows.close()
    return result
