"""Store and archive file ingestion by arrival: files not seen before (by content hash) are found, the
business dates they touch are re-read from all their files, and each date's partition is replaced.
A re-sent or duplicated file therefore never adds rows twice."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from pathlib import Path

import pyarrow as pa

from siyu.connectors.store_files import SCHEMAS as FILE_SCHEMAS
from siyu.connectors.store_files import parse_store_file
from siyu.ingest.run_day import RunDay
from siyu.lake import write_partition

log = logging.getLogger(__name__)
FILE_NAME = re.compile(r"(?P<kind>pos|members)_(?P<store>S\d{4})_(?P<date>\d{4}-\d{2}-\d{2})(?:_resend)?\.csv$")
ARCHIVE_NAME = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})\.jsonl$")
ENTITY = {"pos": "pos_lines", "members": "members", "archive": "messages", "tracking": "shop_visits"}
KEYS = {
    "pos_lines": ("receipt_no", "line_no"),
    "members": ("card_no",),
    "messages": ("msgid",),
    "shop_visits": ("visit_id",),
}
QUARANTINE_SCHEMA = pa.schema(
    [("file", pa.string()), ("line", pa.int64()), ("raw", pa.string()), ("reason", pa.string())]
)
MESSAGE_SCHEMA = pa.schema(
    [
        ("msgid", pa.string()),
        ("action", pa.string()),
        ("from", pa.string()),
        ("tolist", pa.list_(pa.string())),
        ("roomid", pa.string()),
        ("msgtime", pa.int64()),
        ("msgtype", pa.string()),
        ("content", pa.string()),
        ("file", pa.string()),
    ]
)


VISIT_SCHEMA = pa.schema(
    [
        ("visit_id", pa.string()),
        ("visitor_id", pa.string()),
        ("visit_time", pa.int64()),
        ("source", pa.string()),
        ("source_ref", pa.string()),
        ("file", pa.string()),
    ]
)
JSONL_FIELDS = {
    "archive": ("msgid", "action", "from", "tolist", "roomid", "msgtime", "msgtype"),
    "tracking": ("visit_id", "visitor_id", "visit_time", "source", "source_ref"),
}


def _registry_path(lake: Path) -> Path:
    return lake / "_state" / "processed_files.json"


def load_registry(lake: Path) -> dict[str, str]:
    path = _registry_path(lake)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _save_registry(lake: Path, registry: dict[str, str]) -> None:
    path = _registry_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    # One line: indent would route json through its pure-Python encoder, and the registry is saved after
    # every partition.
    staging.write_text(json.dumps(registry, sort_keys=True), encoding="utf-8")
    staging.replace(path)


def _classify(path: Path) -> tuple[str, str] | None:
    if match := FILE_NAME.search(path.name):
        return match["kind"], match["date"]
    if path.parent.name in JSONL_FIELDS and (match := ARCHIVE_NAME.search(path.name)):
        return path.parent.name, match["date"]
    return None


def find_new_files(drops: Path, lake: Path) -> dict[tuple[str, str], list[Path]]:
    """(kind, date) → every file of that kind and date, for the dates at least one new or changed file touches."""
    registry = load_registry(lake)
    by_date: dict[tuple[str, str], list[Path]] = defaultdict(list)
    touched = set()
    for path in sorted(drops.rglob("*")):
        if not path.is_file() or (key := _classify(path)) is None:
            continue
        by_date[key].append(path)
        relative = str(path.relative_to(drops))
        if registry.get(relative) != hashlib.sha256(path.read_bytes()).hexdigest():
            touched.add(key)
    return {key: by_date[key] for key in sorted(touched)}


def _parse_jsonl(path: Path, kind: str) -> tuple[list[dict], list[dict]]:
    rows, rejected = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            record = json.loads(line)
            row = {k: record[k] for k in JSONL_FIELDS[kind]}
            if kind == "archive":
                row["content"] = (record.get("text") or {}).get("content", "")
            row["file"] = path.name
            rows.append(row)
        except (ValueError, KeyError, TypeError) as error:
            rejected.append({"file": str(path), "line": number, "raw": line[:2000], "reason": f"bad record: {error}"})
    return rows, rejected


def _dedupe(rows: list[dict], keys: tuple[str, ...]) -> tuple[list[dict], int]:
    """Keep the first row per key: files are read in name order, so the original before its resend."""
    seen, kept = set(), []
    for row in rows:
        key = tuple(row[k] for k in keys)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept, len(rows) - len(kept)


def ingest_files(drops: Path, lake: Path, run: RunDay) -> dict:
    """Load every (kind, date) touched by new files; record the files only after their partitions landed."""
    touched = find_new_files(drops, lake)
    registry = load_registry(lake)
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    partitions: list[tuple[str, str]] = []
    for (kind, dt), paths in touched.items():
        entity = ENTITY[kind]
        rows, rejected, duplicate_lines = [], [], 0
        for path in paths:
            if kind in JSONL_FIELDS:
                parsed_rows, parsed_rejected = _parse_jsonl(path, kind)
            else:
                parsed = parse_store_file(path, kind)
                parsed_rows = [{**row, "file": path.name} for row in parsed.rows]
                parsed_rejected, duplicate_lines = parsed.quarantined, duplicate_lines + parsed.duplicates
            rows += parsed_rows
            rejected += parsed_rejected
        rows, repeated = _dedupe(rows, KEYS[entity])
        if kind in JSONL_FIELDS:
            schema = {"archive": MESSAGE_SCHEMA, "tracking": VISIT_SCHEMA}[kind]
        else:
            schema = pa.schema([(column, pa.string()) for column in FILE_SCHEMAS[kind]] + [("file", pa.string())])
        table = pa.Table.from_pylist(rows, schema=schema)
        quarantine = pa.Table.from_pylist(rejected, schema=QUARANTINE_SCHEMA)
        write_partition(
            lake,
            "store",
            entity,
            dt,
            table,
            run_id=run.run_id,
            window=(dt, dt),
            quarantined=quarantine,
            extra={
                "files": [p.name for p in paths],
                "duplicate_lines": duplicate_lines,
                "rows_in_several_files": repeated,
            },
        )
        partitions.append((entity, dt))
        if rejected:
            log.warning(
                "store: %s %s set aside %d rows, e.g. %s line %d: %s",
                entity,
                dt,
                len(rejected),
                rejected[0]["file"],
                rejected[0]["line"],
                rejected[0]["reason"],
            )
        for name, value in (
            ("files", len(paths)),
            ("loaded", len(rows)),
            ("quarantined", len(rejected)),
            ("duplicates_dropped", duplicate_lines + repeated),
            ("partitions", 1),
        ):
            totals[entity][name] += value
        for path in paths:
            registry[str(path.relative_to(drops))] = hashlib.sha256(path.read_bytes()).hexdigest()
        _save_registry(lake, registry)
    entities = {k: dict(v) for k, v in totals.items()}
    log.info("store: %s", entities or "no new files")
    return {"entities": entities, "partitions": partitions}
