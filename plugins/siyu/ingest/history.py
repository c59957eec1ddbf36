"""History import: a brand's years of exports into the raw lake, through the daily path's contract checks,
quarantine and manifests (README "Importing history", docs/decisions.md "History import (issue 15)").

Kinds and where they go:

- `pos` (store receipts, one row per receipt line) and `members`: the export is split by store and
  business day into files that follow the store drop contract (`pos/<store>/pos_<store>_<date>.csv`,
  `members/<store>/members_<store>_<date>.csv` in SIYU_DROP_DIR), and `siyu.ingest.store.ingest_files`
  loads them as it loads a day's drops: every row is landed, quarantined with its reason or counted as a
  duplicate by the daily code. A row that cannot be split (no store id, no date) is quarantined here.
- `shop-orders`, `shop-items`, `groups`, `group-members`: each row is checked against the columns of
  `HEADERS` (the documented export header), converted to the raw schema the daily ingestion writes
  (`siyu.ingest.shop.SCHEMAS`, `siyu.ingest.wecom.SCHEMAS`) and written with `siyu.lake.write_partition`:
  orders one partition per business day (of `created`), items in their order's partition (import the
  orders first), groups and group members as one snapshot partition (staging reads the latest snapshot).

Exports are CSV (UTF-8, UTF-8 with a BOM, GBK or GB18030, as `siyu.connectors.store_files` reads them) or
Parquet. Vendor column names are mapped to ours with `mapping` ({"vendor name": "our name"}). Dates are
accepted from 1990 on. Every record of an export is accounted for:
`lines_read = landed + quarantined + duplicates`, in the summary and in the import's manifest
(`<lake>/_imports/<run id>.json`). After an import, `build_history` builds the days of the imported period.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
import shutil
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from siyu.config import STORE_ID_PATTERN
from siyu.connectors.store_files import (  # the same value rules as the store contract
    RAW_LIMIT,
    UnreadableFile,
    csv_records,
    detect_encoding,
    required_field,
    text_field,
    today_window,
)
from siyu.connectors.store_files import SCHEMAS as DROP_SCHEMAS
from siyu.ingest.run_day import RunDay
from siyu.ingest.shop import SCHEMAS as SHOP_SCHEMAS
from siyu.ingest.wecom import SCHEMAS as WECOM_SCHEMAS
from siyu.lake import partition_dir, read_manifest, write_partition
from siyu.quality.raw_suites import ORDER_STATUSES

log = logging.getLogger(__name__)
STORE_ID = re.compile(STORE_ID_PATTERN, re.ASCII)
# Dates as exports write them: ISO, or Excel's 1997/3/5 14:22. Normalised to the contract's form.
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")
QUARANTINE_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("raw", pa.string()),
        ("reason", pa.string()),
        ("run_id", pa.string()),
    ]
)


class ImportRefused(ValueError):
    """The import cannot start as asked (unknown kind, a required column missing, a partition the daily
    path wrote in the way); nothing was written. The message says what to do."""


# --- values ----------------------------------------------------------------------------------------------


def normalise_datetime(value: str) -> str:
    """`YYYY-MM-DD HH:MM:SS` from the forms exports write; anything else is returned as it came."""
    text = value.strip()
    for pattern in DATETIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            continue
    return value


def _local_datetime(value: str) -> str:
    text = normalise_datetime(value)
    try:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ValueError(f"{value[:50]!r} is not a date and time (YYYY-MM-DD HH:MM:SS)") from None
    first, last = today_window()
    if not first <= moment.date() <= last:
        raise ValueError(f"{value!r} is outside {first}..{last}")
    return text


def _optional_datetime(value: str) -> str:
    return "" if not value.strip() else _local_datetime(value)


def _yuan(value: str) -> str:
    """Non-negative yuan with at most 2 decimals, written with exactly 2 (as Youzan sends them)."""
    if not re.fullmatch(r"[0-9]{1,10}(\.[0-9]{1,2})?", value.strip(), re.ASCII):
        raise ValueError(f"{value[:50]!r} is not an amount in yuan (e.g. 59.90)")
    return f"{Decimal(value.strip()):.2f}"


def _integer(low: int, high: int) -> Callable[[str], int]:
    def check(value: str) -> int:
        if not re.fullmatch(r"-?[0-9]{1,10}", value.strip(), re.ASCII) or not low <= int(value) <= high:
            raise ValueError(f"{value[:50]!r} is not a whole number in {low}..{high}")
        return int(value)

    return check


def _one_of(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value.strip() not in allowed:
            raise ValueError(f"{value[:50]!r} is not one of {', '.join(allowed)}")
        return value.strip()

    return check


def _unix_seconds(value: str) -> int:
    """Unix seconds, or a local date and time in the brand's time zone."""
    from siyu.config import load_settings

    text = value.strip()
    if re.fullmatch(r"[0-9]{9,10}", text, re.ASCII):
        seconds = int(text)
        moment = datetime.fromtimestamp(seconds, load_settings().tz)
    else:
        moment = datetime.strptime(_local_datetime(text), "%Y-%m-%d %H:%M:%S").replace(tzinfo=load_settings().tz)
        seconds = int(moment.timestamp())
    first, last = today_window()
    if not first <= moment.date() <= last:
        raise ValueError(f"{value!r} is outside {first}..{last}")
    return seconds


@dataclass(frozen=True)
class Column:
    """One column of an export: its check (text → the raw value) and, when the export may leave it out,
    its default (a text, or `=column` for another column's value)."""

    check: Callable[[str], object]
    default: str | None = None  # None: the export must have the column


# The export header each lake kind expects (README "Importing history"): our column names, in this order.
HEADERS: dict[str, dict[str, Column]] = {
    "shop-orders": {
        "tid": Column(required_field),
        "status": Column(_one_of(*ORDER_STATUSES)),
        "created": Column(_local_datetime),
        "update_time": Column(_local_datetime, "=created"),
        "pay_time": Column(_optional_datetime, ""),
        "consign_time": Column(_optional_datetime, ""),
        "success_time": Column(_optional_datetime, ""),
        "refund_state": Column(_integer(0, 99), "0"),
        "yz_open_id": Column(required_field),
        "buyer_phone": Column(text_field, ""),
        "outer_user_id": Column(text_field, ""),
        "total_fee": Column(_yuan, "=payment"),
        "post_fee": Column(_yuan, "0.00"),
        "payment": Column(_yuan),
        "wx_entrance": Column(text_field, ""),
        "source_channel": Column(text_field, ""),
        "source_ref": Column(text_field, ""),
        "daogou": Column(text_field, ""),
    },
    "shop-items": {
        "tid": Column(required_field),
        "oid": Column(required_field),
        "item_id": Column(_integer(0, 2**62), "0"),
        "sku_id": Column(_integer(0, 2**62), "0"),
        "outer_sku_id": Column(text_field, ""),
        "title": Column(text_field, ""),
        "category": Column(text_field, ""),
        "num": Column(_integer(1, 10_000)),
        "price": Column(_yuan),
        "total_fee": Column(_yuan, "=payment"),
        "payment": Column(_yuan),
    },
    "groups": {
        "chat_id": Column(required_field),
        "status": Column(_integer(0, 3), "0"),
        "name": Column(text_field, ""),
        "owner": Column(required_field),
        "create_time": Column(_unix_seconds),
        "notice": Column(text_field, ""),
        "member_version": Column(text_field, ""),
        "member_count": Column(_integer(0, 100_000), "0"),
    },
    "group-members": {
        "chat_id": Column(required_field),
        "userid": Column(required_field),
        "type": Column(_integer(1, 2)),
        "unionid": Column(text_field, ""),
        "join_time": Column(_unix_seconds),
        "join_scene": Column(_integer(0, 3), "0"),
        "invitor": Column(text_field, ""),
        "state": Column(text_field, ""),
        "group_nickname": Column(text_field, ""),
    },
}


@dataclass(frozen=True)
class Kind:
    name: str
    source: str
    entity: str
    key: tuple[str, ...]  # what makes two rows the same row
    drop_kind: str | None = None  # store kinds: the drop contract's kind
    day_column: str | None = None  # the column whose date is the business day
    schema: pa.Schema | None = None  # lake kinds: the raw schema written


KINDS = {
    "pos": Kind("pos", "store", "pos_lines", ("receipt_no", "line_no"), "pos", "sold_at"),
    "members": Kind("members", "store", "members", ("card_no",), "members", "registered_at"),
    "shop-orders": Kind("shop-orders", "shop", "orders", ("tid",), day_column="created", schema=SHOP_SCHEMAS["orders"]),
    "shop-items": Kind("shop-items", "shop", "order_items", ("oid",), schema=SHOP_SCHEMAS["order_items"]),
    "groups": Kind("groups", "wecom", "groups", ("chat_id",), schema=WECOM_SCHEMAS["groups"]),
    "group-members": Kind(
        "group-members", "wecom", "group_members", ("chat_id", "userid"), schema=WECOM_SCHEMAS["group_members"]
    ),
}


# --- reading an export -----------------------------------------------------------------------------------


@dataclass
class Record:
    line: int  # CSV: the physical line the record starts on (1 = header); Parquet: the row number + 1
    fields: list[str] | None  # None when the CSV reader could not read it
    error: str | None = None

    def raw(self) -> str:
        if self.fields is None:
            return self.error or ""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(self.fields)
        text = buffer.getvalue()
        return f"{text[:RAW_LIMIT]}… ({len(text)} characters)" if len(text) > RAW_LIMIT else text


@dataclass
class Export:
    path: Path
    sha256: str
    encoding: str
    header: list[str]  # after mapping: our names, lower case
    records: list[Record]


def _cell(value: object) -> str:
    """A Parquet value as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            from siyu.config import load_settings

            value = value.astimezone(load_settings().tz)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _csv_records(text: str) -> Iterator[Record]:
    """The store contract's CSV reader (quoted line breaks, per-record errors), as this module's records."""
    for record in csv_records(text):
        yield Record(record.line, record.fields, record.error)


def read_export(path: Path, mapping: dict[str, str] | None = None) -> Export:
    """The export's header (vendor names mapped to ours) and records as text. Raises ImportRefused when
    the file cannot be read at all (not one of the encodings, not Parquet)."""
    path = Path(path)
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            table = pq.read_table(io.BytesIO(raw))
        except Exception as error:
            raise ImportRefused(f"{path}: not a readable Parquet file ({error})") from None
        names = table.column_names
        rows = table.to_pylist()
        records = [Record(number, [_cell(row[name]) for name in names]) for number, row in enumerate(rows, start=2)]
        encoding = "parquet"
    else:
        try:
            encoding = detect_encoding(raw)
        except UnreadableFile as error:
            raise ImportRefused(f"{path}: {error}") from None
        parsed = list(_csv_records(raw.decode(encoding)))
        if not parsed or parsed[0].fields is None:
            raise ImportRefused(f"{path}: no header line")
        names, records = parsed[0].fields, parsed[1:]
    by_name = {_name(vendor): _name(ours) for vendor, ours in (mapping or {}).items()}
    header = [by_name.get(_name(name), _name(name)) for name in names]
    return Export(path, digest, encoding, header, records)


def _name(column: str) -> str:
    return column.strip().lstrip("\ufeff").strip().lower()


def parse_mapping(pairs: list[str] | None = None, mapping_file: Path | None = None) -> dict[str, str]:
    """`--mapping file.yaml` ({vendor: ours}), then `--map vendor=ours` pairs (later ones win)."""
    mapping: dict[str, str] = {}
    if mapping_file is not None:
        import yaml

        document = yaml.safe_load(Path(mapping_file).read_text(encoding="utf-8")) or {}
        if not isinstance(document, dict):
            raise ImportRefused(f"{mapping_file}: expected a mapping of vendor column → siyu column")
        mapping.update({str(vendor): str(ours) for vendor, ours in document.items()})
    for pair in pairs or []:
        vendor, separator, ours = pair.partition("=")
        if not separator or not vendor.strip() or not ours.strip():
            raise ImportRefused(f"--map {pair!r}: expected vendor_column=siyu_column")
        mapping[vendor] = ours
    return mapping


# --- accounting ------------------------------------------------------------------------------------------


@dataclass
class FileCount:
    name: str
    sha256: str
    encoding: str
    lines_read: int = 0
    landed: int = 0
    quarantined: int = 0
    duplicates: int = 0

    def add(self, other: dict) -> None:
        for key in ("landed", "quarantined", "duplicates"):
            setattr(self, key, getattr(self, key) + other.get(key, 0))


@dataclass
class Rejects:
    """Rejected records with their export file, line and reason."""

    run_id: str
    rows: list[dict] = field(default_factory=list)

    def add(self, export: Export, record: Record, reason: str) -> None:
        self.rows.append(
            {
                "file": export.path.name,
                "line": record.line,
                "raw": record.raw(),
                "reason": reason,
                "run_id": self.run_id,
            }
        )


def _write_import_quarantine(lake: Path, kind: Kind, exports: list[Export], rejects: Rejects) -> Path | None:
    """Records that never reached a partition (no day to put them in), beside the entity's quarantine:
    quarantine/<source>/<entity>/import=<exports' hash>/. A re-import of the same exports replaces it."""
    identity = hashlib.sha256("".join(sorted(e.sha256 for e in exports)).encode()).hexdigest()[:16]
    target = Path(lake) / "quarantine" / kind.source / kind.entity / f"import={identity}"
    shutil.rmtree(target, ignore_errors=True)
    if not rejects.rows:
        return None
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rejects.rows, schema=QUARANTINE_SCHEMA), staging / "part-0.parquet")
    os.replace(staging, target)
    return target


def _check_header(kind_name: str, export: Export, columns: dict[str, object]) -> None:
    """Every required column present, none twice; a column the kind may lack is filled with its default."""
    seen = [name for name in export.header if name in columns]
    repeated = sorted({name for name in seen if seen.count(name) > 1})
    if repeated:
        raise ImportRefused(f"{export.path}: column(s) {repeated} appear twice (after --map)")
    missing = [name for name in columns if name not in export.header and not _optional(columns[name])]
    if missing:
        raise ImportRefused(
            f"{export.path}: no column(s) {missing} for `siyu import {kind_name}` (found {export.header[:30]}); "
            "rename the vendor's columns with --map vendor=siyu or --mapping file.yaml"
        )


def _optional(column: object) -> bool:
    """A column the export may leave out: a lake column with a default, or a drop column whose check
    accepts the empty text."""
    if isinstance(column, Column):
        return column.default is not None
    try:
        column("")
        return True
    except ValueError:
        return False


def _values(export: Export, record: Record, columns) -> dict[str, str]:
    """The record's text by our column name; ValueError when it is not a row of the header."""
    if record.fields is None:
        raise ValueError(record.error or "unreadable record")
    width = len(export.header)
    fields = record.fields
    if len(fields) < width or any(value != "" for value in fields[width:]):
        raise ValueError(f"{len(fields)} fields, expected {width}")
    index = {name: position for position, name in reversed(list(enumerate(export.header)))}
    return {name: fields[index[name]] if name in index else "" for name in columns}


# --- store kinds: split into drop files, loaded by the daily code -------------------------------------------


def _drop_path(drops: Path, drop_kind: str, store: str, day: str) -> Path:
    return Path(drops) / drop_kind / store / f"{drop_kind}_{store}_{day}.csv"


def _split(kind: Kind, exports: list[Export], rejects: Rejects) -> dict[tuple[str, str], list[list[str]]]:
    """Rows by (store, day), as contract columns plus the export file and line they came from."""
    schema = DROP_SCHEMAS[kind.drop_kind]
    split: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
    for export in exports:
        for record in export.records:
            try:
                values = _values(export, record, schema)
            except ValueError as error:
                rejects.add(export, record, f"cannot be split: {error}")
                continue
            store = values["store_id"]
            values[kind.day_column] = normalise_datetime(values[kind.day_column])
            day_text = values[kind.day_column][:10]
            if not STORE_ID.fullmatch(store):
                rejects.add(export, record, f"cannot be split: store_id {store[:50]!r} is not a store id (S0000)")
                continue
            try:
                day = date.fromisoformat(day_text) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day_text) else None
            except ValueError:
                day = None
            if day is None:
                reason = f"{kind.day_column} {values[kind.day_column][:50]!r} is not a real date (YYYY-MM-DD HH:MM:SS)"
                rejects.add(export, record, f"cannot be split: {reason}")
                continue
            split[(store, day.isoformat())].append(
                [values[column] for column in schema] + [export.path.name, str(record.line)]
            )
    return split


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _import_store(
    kind: Kind, exports: list[Export], drops: Path, lake: Path, run: RunDay, replace: bool
) -> tuple[dict, Rejects, list[tuple[str, str]]]:
    from siyu.ingest.store import ingest_files

    rejects = Rejects(run.run_id)
    split = _split(kind, exports, rejects)
    header = [*DROP_SCHEMAS[kind.drop_kind], "export_file", "export_line"]
    files = {
        _drop_path(drops, kind.drop_kind, store, day): _csv_bytes(header, rows) for (store, day), rows in split.items()
    }
    conflicts = [str(path) for path, data in files.items() if path.exists() and path.read_bytes() != data]
    if conflicts and not replace:
        raise ImportRefused(
            f"{len(conflicts)} drop file(s) already hold other rows for the same store and day, e.g. {conflicts[0]}: "
            "pass --replace to make this export the latest version of those days (a re-send), or leave them"
        )
    for path, data in files.items():
        if path.exists() and path.read_bytes() == data:
            continue  # same bytes: nothing new for the daily code
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        staging.write_bytes(data)
        os.replace(staging, path)
    loaded = ingest_files(drops, lake, run)
    # What the daily code did with each split file, from the manifest of its partition (also when the file
    # was loaded by an earlier import with the same bytes).
    outcome: dict[str, dict] = {}
    for (_, day), path in zip(split, files, strict=True):
        relative = str(path.relative_to(drops))
        entries = read_manifest(lake, kind.source, kind.entity, day).get("files", [])
        entry = next((e for e in entries if e["name"] == relative), None)
        if entry is None:
            raise RuntimeError(f"{relative} is not in the manifest of {kind.source}/{kind.entity} dt={day}")
        outcome[relative] = entry
    return outcome, rejects, [tuple(p) for p in loaded["partitions"]]


# --- lake kinds: checked rows into day partitions ---------------------------------------------------------


def _convert(columns: dict[str, Column], values: dict[str, str]) -> dict:
    row = {}
    for name, column in columns.items():
        text = values[name]
        if text == "" and column.default is not None:
            text = values[column.default[1:]] if column.default.startswith("=") else column.default
        try:
            row[name] = column.check(text)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    return row


def _order_days(lake: Path) -> dict[str, str]:
    """tid → the day partition of its order in the lake (the latest, as staging keeps it)."""
    days: dict[str, str] = {}
    for part in sorted((Path(lake) / "raw" / "shop" / "orders").glob("dt=*/part-0.parquet")):
        day = part.parent.name.removeprefix("dt=")
        for tid in pq.read_table(part, columns=["tid"]).column("tid").to_pylist():
            days[tid] = day
    return days


@dataclass
class _Partition:
    rows: dict[tuple, tuple[Export, Record, dict]] = field(default_factory=dict)
    rejects: list[dict] = field(default_factory=list)
    duplicates: int = 0


def _import_lake(
    kind: Kind, exports: list[Export], lake: Path, run: RunDay, replace: bool, snapshot_date: date | None
) -> tuple[dict, Rejects, list[tuple[str, str]]]:
    columns = HEADERS[kind.name]
    rejects = Rejects(run.run_id)
    order_days = _order_days(lake) if kind.name == "shop-items" else {}
    counts = {export.path.name: defaultdict(int) for export in exports}
    partitions: dict[str, _Partition] = defaultdict(_Partition)
    converted: list[tuple[Export, Record, dict]] = []
    for export in exports:
        for record in export.records:
            try:
                converted.append((export, record, _convert(columns, _values(export, record, columns))))
            except ValueError as error:
                rejects.add(export, record, str(error))
    if kind.name in ("groups", "group-members"):
        # A snapshot: all of it on one day, the export's (default: the latest day it shows).
        column = "create_time" if kind.name == "groups" else "join_time"
        from siyu.config import load_settings

        latest = max(
            (datetime.fromtimestamp(row[column], load_settings().tz).date() for *_, row in converted), default=None
        )
        snapshot_day = (snapshot_date or latest or run.day).isoformat()
    for export, record, row in converted:
        if kind.name == "shop-orders":
            day = row["created"][:10]
        elif kind.name == "shop-items":
            day = order_days.get(row["tid"])
            if day is None:
                rejects.add(export, record, f"tid {row['tid']!r} is not an order in the lake: import its order first")
                continue
        else:
            day = snapshot_day
        partition = partitions[day]
        key = tuple(row[name] for name in kind.key)
        if (earlier := partition.rows.get(key)) is not None:
            if earlier[2] == row:
                partition.duplicates += 1
                counts[export.path.name]["duplicates"] += 1
                continue
            earlier_export, earlier_record, _ = earlier
            reason = f"same {'/'.join(kind.key)} again in {export.path.name} line {record.line}, which lands"
            partition.rejects.append(
                {
                    "file": earlier_export.path.name,
                    "line": earlier_record.line,
                    "raw": earlier_record.raw(),
                    "reason": reason,
                }
            )
            counts[earlier_export.path.name]["landed"] -= 1
            counts[earlier_export.path.name]["quarantined"] += 1
        partition.rows[key] = (export, record, row)
        counts[export.path.name]["landed"] += 1
    conflicts = []
    for day in partitions:
        target = partition_dir(lake, "raw", kind.source, kind.entity, day)
        if (target / "_manifest.json").exists():
            run_id = read_manifest(lake, kind.source, kind.entity, day).get("run_id", "")
            if not str(run_id).startswith("import-"):
                conflicts.append(f"{kind.source}/{kind.entity} dt={day}")
    if conflicts and not replace:
        raise ImportRefused(
            f"{len(conflicts)} partition(s) were written by the daily ingestion, e.g. {conflicts[0]}: "
            "pass --replace to replace those days with the export"
        )
    written = []
    quarantine_schema = pa.schema(list(QUARANTINE_SCHEMA)[:4])
    for day, partition in sorted(partitions.items()):
        table = pa.Table.from_pylist([row for *_, row in partition.rows.values()], schema=kind.schema)
        lines_read = table.num_rows + len(partition.rejects) + partition.duplicates
        write_partition(
            lake,
            kind.source,
            kind.entity,
            day,
            table,
            run_id=run.run_id,
            window=(day, day),
            quarantined=pa.Table.from_pylist(partition.rejects, schema=quarantine_schema),
            extra={
                "import": {"kind": kind.name, "files": sorted({e.path.name for e, *_ in partition.rows.values()})},
                "lines_read": lines_read,
                "duplicates": partition.duplicates,
            },
        )
        written.append((kind.entity, day))
    for row in rejects.rows:
        counts[row["file"]]["quarantined"] += 1
    return {name: dict(values) for name, values in counts.items()}, rejects, written


# --- the import --------------------------------------------------------------------------------------------


def import_history(
    kind_name: str,
    paths: list[Path],
    *,
    lake: Path,
    drops: Path,
    mapping: dict[str, str] | None = None,
    replace: bool = False,
    snapshot_date: date | None = None,
    validate: bool = True,
) -> dict:
    """Import exports of one kind; returns the summary (also written to <lake>/_imports/<run id>.json).
    Raises ImportRefused before writing anything when the import cannot start, and
    siyu.quality.raw_suites.RawQualityError when a partition it wrote fails its raw gate (as a daily run
    stops before publishing)."""
    if kind_name not in KINDS:
        raise ImportRefused(f"unknown kind {kind_name!r}; one of {', '.join(KINDS)}")
    kind = KINDS[kind_name]
    from siyu.config import load_settings

    tz = load_settings().tz
    now = datetime.now(tz)
    run = RunDay(
        day=now.date(), run_id=f"import-{kind.name}-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}", tz=tz
    )
    exports = [read_export(Path(path), mapping) for path in paths]
    columns = DROP_SCHEMAS[kind.drop_kind] if kind.drop_kind else HEADERS[kind.name]
    for export in exports:
        _check_header(kind.name, export, columns)
    files = {e.path.name: FileCount(str(e.path), e.sha256, e.encoding, lines_read=len(e.records)) for e in exports}
    if len(files) < len(exports):
        raise ImportRefused("two exports share a file name: rename one (quarantine names rows by file and line)")
    if kind.drop_kind:
        outcome, rejects, partitions = _import_store(kind, exports, Path(drops), Path(lake), run, replace)
        for entry in outcome.values():
            # Split rows remember their export by name (export_file); the split file's counts are shared
            # out by the export lines it holds.
            _share(entry, files, Path(drops))
        for row in rejects.rows:
            files[row["file"]].quarantined += 1
    else:
        counts, rejects, partitions = _import_lake(kind, exports, Path(lake), run, replace, snapshot_date)
        for name, count in counts.items():
            files[name].add(count)
    quarantine = _write_import_quarantine(Path(lake), kind, exports, rejects)
    summary = {
        "kind": kind.name,
        "run_id": run.run_id,
        "entity": f"{kind.source}/{kind.entity}",
        "files": [vars(count) for count in files.values()],
        "lines_read": sum(c.lines_read for c in files.values()),
        "landed": sum(c.landed for c in files.values()),
        "quarantined": sum(c.quarantined for c in files.values()),
        "duplicates": sum(c.duplicates for c in files.values()),
        "not_split": len(rejects.rows) if kind.drop_kind else None,
        "partitions": len({day for _, day in partitions}),
        "first_day": min((day for _, day in partitions), default=None),
        "last_day": max((day for _, day in partitions), default=None),
        "import_quarantine": str(quarantine) if quarantine else None,
    }
    if kind.drop_kind is None:
        del summary["not_split"]
    summary["accounted"] = summary["lines_read"] == summary["landed"] + summary["quarantined"] + summary["duplicates"]
    record = Path(lake) / "_imports" / f"{run.run_id}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    log.info("import: %s", {k: summary[k] for k in ("kind", "lines_read", "landed", "quarantined", "duplicates")})
    if validate and partitions:
        from siyu.quality.raw_suites import validate_partitions

        validate_partitions(Path(lake), kind.source, sorted(set(partitions)))
    return summary


def _share(entry: dict, files: dict[str, FileCount], drops: Path) -> None:
    """Add one split file's outcome (from its partition manifest) to the exports its lines came from.
    A split file holds lines of one export unless several exports of one command cover the same store
    and day; then its counts go to the export with most of its lines (the total stays exact)."""
    path = drops / entry["name"]
    with path.open(encoding="utf-8", newline="") as handle:
        origins = [row["export_file"] for row in csv.DictReader(handle)]
    owner = max(set(origins), key=origins.count) if origins else next(iter(files))
    files[owner].add(entry)


def build_history(
    lake: Path,
    warehouse: Path,
    as_of: date,
    history_from: date | None = None,
    truth: Path | None = None,
    quiet: bool = False,
):
    """The daily history (segments, tags, KPIs) from `history_from` to `as_of`: a full-refresh build with
    the brand's settings and this run's snapshot_date and segments_history_start. `quiet`: dbt's console
    log shows only warnings and errors (its whole log is in dbt.log; siyu logs the progress)."""
    from siyu.transform import dbt_build

    dbt_vars = {"snapshot_date": as_of.isoformat()}
    if history_from is not None:
        dbt_vars["segments_history_start"] = history_from.isoformat()
    extra_args = ["--full-refresh", *(["--log-level", "warn"] if quiet else [])]
    return dbt_build(Path(lake), Path(warehouse), truth=truth, dbt_vars=dbt_vars, extra_args=extra_args)
