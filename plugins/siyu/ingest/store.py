"""Store and archive file ingestion by arrival: files whose bytes were not loaded before (by content hash)
are found, the business dates they touch are re-read from all their files, and each date's partition is
replaced.

Rules (docs/decisions.md "Store file contract (issue 17)"):

- Every file is read once: the bytes hashed are the bytes parsed and recorded, so a file that grows
  while it is read is loaded as it was, and its new bytes are new on the next run.
- A file whose bytes equal a file already loaded (or met earlier in this run) is a duplicate whatever its
  name: its records count as duplicates and nothing lands twice.
- Several versions of one store's file for one day (a re-send, a `_resend` file): the latest arrival wins
  (file mtime, then name, so `x_resend.csv` follows `x.csv`); the earlier versions' rows count as
  duplicates. A file quarantined whole replaces nothing.
- Symlinks are never followed: a linked file is listed in the manifest as not read, a linked folder is
  skipped with a warning.
- Per file: lines_read = landed + quarantined + duplicates, in the manifest's `files`."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from siyu.config import STORE_ID_PATTERN
from siyu.connectors.store_files import KEYS as ROW_KEYS
from siyu.connectors.store_files import SCHEMAS as FILE_SCHEMAS
from siyu.connectors.store_files import ParsedFile, parse_jsonl_bytes, parse_store_bytes, quarantine_whole
from siyu.ingest.run_day import RunDay
from siyu.lake import write_partition

log = logging.getLogger(__name__)
FILE_NAME = re.compile(
    rf"(?P<kind>pos|members)_(?P<store>{STORE_ID_PATTERN})_(?P<date>[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})(?:_resend)?\.csv$",
    re.ASCII,
)
# The POS vendor's master data: one full snapshot per export day, for all stores (issue 19).
MASTER_NAME = re.compile(r"(?P<kind>stores|staff)_(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})(?:_resend)?\.csv$", re.ASCII)
ARCHIVE_NAME = re.compile(r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})\.jsonl$", re.ASCII)
ENTITY = {
    "pos": "pos_lines",
    "members": "members",
    "stores": "stores",
    "staff": "staff",
    "archive": "messages",
    "tracking": "shop_visits",
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
JSONL_KINDS = {"archive": MESSAGE_SCHEMA, "tracking": VISIT_SCHEMA}


# --- the registry: which bytes were loaded, and from where --------------------------------------------------


@dataclass
class Registry:
    """`by_hash`: content identity → the first path it was loaded from. `by_path`: path → the identity it
    held when its partition last landed (a path whose identity differs is new or changed)."""

    by_hash: dict[str, str] = field(default_factory=dict)
    by_path: dict[str, str] = field(default_factory=dict)


def _registry_path(lake: Path) -> Path:
    return lake / "_state" / "processed_files.json"


def load_registry(lake: Path) -> Registry:
    path = _registry_path(lake)
    if not path.exists():
        return Registry()
    stored = json.loads(path.read_text(encoding="utf-8"))
    if stored.get("format") == 2:
        return Registry(stored["by_hash"], stored["by_path"])
    # Format 1 was {relative path: sha256}: the same paths count as loaded, so an upgrade reloads nothing.
    by_hash: dict[str, str] = {}
    for relative, digest in sorted(stored.items()):
        by_hash.setdefault(digest, relative)
    return Registry(by_hash, dict(stored))


def _save_registry(lake: Path, registry: Registry) -> None:
    path = _registry_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    # One line: indent would route json through its pure-Python encoder, and the registry is saved after
    # every partition. fsync before the rename, so a crash leaves the old registry or the new one.
    with staging.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"format": 2, "by_hash": registry.by_hash, "by_path": registry.by_path}))
        handle.flush()
        os.fsync(handle.fileno())
    staging.replace(path)


# --- the drop folder ----------------------------------------------------------------------------------------


@dataclass
class DropFile:
    path: Path
    relative: str
    kind: str
    store: str  # "" for the archive, tracking and master-data exports
    dt: str
    mtime_ns: int
    link: str | None = None  # the target of a symlink, which is never read
    mode: int = 0

    @property
    def arrival(self) -> tuple:
        return (self.mtime_ns, self.path.name, self.relative)


def _classify(path: Path) -> tuple[str, str, str] | None:
    if match := FILE_NAME.search(path.name):
        return match["kind"], match["store"], match["date"]
    if match := MASTER_NAME.search(path.name):
        return match["kind"], "", match["date"]  # "": one snapshot for all stores, so a later one supersedes
    if path.parent.name in JSONL_KINDS and (match := ARCHIVE_NAME.search(path.name)):
        return path.parent.name, "", match["date"]
    return None


def scan_drops(drops: Path) -> list[DropFile]:
    """Every drop file by name, without reading any. Linked folders are not entered; linked files are
    listed with their target so the manifest can say why they were not read."""
    found = []
    for folder, subfolders, names in os.walk(drops, followlinks=False):
        for name in subfolders:
            if os.path.islink(os.path.join(folder, name)):
                log.warning("store: %s is a symlink to a folder; not followed", os.path.join(folder, name))
        for name in sorted(names):
            path = Path(folder) / name
            if (key := _classify(path)) is None:
                continue
            try:
                info = path.lstat()
            except OSError as error:  # gone between listing and looking
                log.warning("store: %s vanished while scanning: %s", path, error)
                continue
            link = os.readlink(path) if stat.S_ISLNK(info.st_mode) else None
            if link is None and not stat.S_ISREG(info.st_mode):
                log.warning("store: %s is not a regular file; skipped", path)
                continue
            kind, store, dt = key
            relative = str(path.relative_to(drops))
            found.append(DropFile(path, relative, kind, store, dt, info.st_mtime_ns, link, info.st_mode))
    return found


def read_drop_file(path: Path) -> bytes:
    """The file's bytes, refusing a symlink swapped in after the scan (O_NOFOLLOW)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        return handle.read()


@dataclass
class _Loaded:
    drop: DropFile
    identity: str  # sha256 of the bytes, or a description of why there are none
    raw: bytes | None = None
    reason: str | None = None  # why the file was not read


def _load(drop: DropFile) -> _Loaded:
    if drop.link is not None:
        reason = f"symlink to {drop.link}: not followed"
        return _Loaded(
            drop, "symlink:" + hashlib.sha256(drop.link.encode("utf-8", "replace")).hexdigest(), None, reason
        )
    try:
        raw = read_drop_file(drop.path)
    except OSError as error:
        reason = f"cannot be read: {error.strerror or error}"
        # Retried once the file changes or its permissions do (chmod leaves the mtime alone).
        return _Loaded(drop, f"unreadable:{drop.mtime_ns}:{drop.mode:o}", None, reason)
    return _Loaded(drop, hashlib.sha256(raw).hexdigest(), raw)


def _parse(loaded: _Loaded) -> ParsedFile:
    """One file's outcome; whatever goes wrong stays inside this file."""
    drop = loaded.drop
    if loaded.raw is None:
        return ParsedFile(drop.relative, drop.kind, "none", sha256="", reason=loaded.reason)
    try:
        if drop.kind in JSONL_KINDS:
            return parse_jsonl_bytes(loaded.raw, drop.relative, drop.kind)
        return parse_store_bytes(loaded.raw, drop.relative, drop.kind)
    except Exception as error:  # a reader bug must not cost the other files
        log.exception("store: reading %s failed", drop.relative)
        return quarantine_whole(loaded.raw, drop.relative, drop.kind, f"reader failed: {type(error).__name__}: {error}")


# --- one partition -------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    loaded: _Loaded
    parsed: ParsedFile
    landed: list[dict] = field(default_factory=list)
    duplicates: int = 0
    note: dict = field(default_factory=dict)

    def entry(self) -> dict:
        parsed = self.parsed
        entry = {
            "name": self.loaded.drop.relative,
            "sha256": parsed.sha256 or None,
            "encoding": parsed.encoding,
            "lines_read": parsed.lines_read,
            "landed": len(self.landed),
            "quarantined": len(parsed.quarantined),
            "duplicates": self.duplicates,
        }
        if parsed.reason:
            entry["reason"] = parsed.reason
        if parsed.ignored_columns:
            entry["ignored_columns"] = parsed.ignored_columns
        return entry | self.note


def _settle(outcomes: list[_Outcome], kind: str, canonical: dict[str, str]) -> None:
    """Decide which rows land: content duplicates land nothing, the latest version of a store's day wins,
    and a key in several files lands from the latest. Outcomes are in arrival order."""
    current: dict[str, _Outcome] = {}
    for outcome in outcomes:
        parsed = outcome.parsed
        outcome.duplicates = parsed.duplicates
        first = canonical.get(outcome.loaded.identity, outcome.loaded.drop.relative)
        if outcome.loaded.raw is not None and first != outcome.loaded.drop.relative:
            # Its records were accounted for under the first file with these bytes; only count them here.
            outcome.duplicates = parsed.lines_read
            parsed.quarantined.clear()
            outcome.note = {"duplicate_of": first}
            continue
        if parsed.reason is not None:
            continue  # quarantined whole, or not read: it replaces nothing
        outcome.landed = list(parsed.rows)
        if kind in FILE_SCHEMAS:
            store = outcome.loaded.drop.store
            if (earlier := current.get(store)) is not None:
                earlier.duplicates += len(earlier.landed)
                earlier.landed = []
                earlier.note = {"superseded_by": outcome.loaded.drop.relative}
            current[store] = outcome
    # The same key in two files that both stand (two stores, or two archive files of a day): latest wins.
    keys = ROW_KEYS[kind]
    owner: dict[tuple, _Outcome] = {}
    for outcome in outcomes:
        for row in outcome.landed:
            key = tuple(row[k] for k in keys)
            if None not in key:
                owner[key] = outcome
    for outcome in outcomes:
        kept = [row for row in outcome.landed if owner.get(tuple(row[k] for k in keys), outcome) is outcome]
        outcome.duplicates += len(outcome.landed) - len(kept)
        outcome.landed = kept


def _table(kind: str, outcomes: list[_Outcome]) -> pa.Table:
    if kind in JSONL_KINDS:
        schema = JSONL_KINDS[kind]
    else:
        schema = pa.schema([(column, pa.string()) for column in FILE_SCHEMAS[kind]] + [("file", pa.string())])
    rows = [{**row, "file": o.loaded.drop.path.name} for o in outcomes for row in o.landed]
    return pa.Table.from_pylist(rows, schema=schema)


def ingest_files(drops: Path, lake: Path, run: RunDay) -> dict:
    """Load every (kind, date) touched by new or changed files; record the files only after their
    partitions landed, so a crash before that reloads them next run."""
    registry = load_registry(lake)
    by_partition: dict[tuple[str, str], list[DropFile]] = defaultdict(list)
    for drop in scan_drops(drops):
        by_partition[(drop.kind, drop.dt)].append(drop)
    present = {drop.relative for files in by_partition.values() for drop in files}
    first_this_run: dict[str, str] = {}

    def first_holder(loaded: _Loaded) -> str:
        """The file these bytes count under: the path they were first loaded from while it still holds
        them, else the first file met with them in this run."""
        known = registry.by_hash.get(loaded.identity)
        if known is not None and known in present and registry.by_path.get(known) == loaded.identity:
            return known
        return first_this_run.setdefault(loaded.identity, loaded.drop.relative)

    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    partitions: list[tuple[str, str]] = []
    for (kind, dt), files in sorted(by_partition.items()):
        loaded = [_load(drop) for drop in sorted(files, key=lambda d: d.arrival)]
        canonical = {item.identity: first_holder(item) for item in loaded}
        if all(registry.by_path.get(item.drop.relative) == item.identity for item in loaded):
            continue
        entity = ENTITY[kind]
        outcomes = [_Outcome(item, _parse(item)) for item in loaded]
        _settle(outcomes, kind, canonical)
        rejected = [q for o in outcomes for q in o.parsed.quarantined]
        entries = [o.entry() for o in outcomes]
        table = _table(kind, outcomes)
        write_partition(
            lake,
            "store",
            entity,
            dt,
            table,
            run_id=run.run_id,
            window=(dt, dt),
            quarantined=pa.Table.from_pylist(rejected, schema=QUARANTINE_SCHEMA),
            extra={
                "files": entries,
                "lines_read": sum(e["lines_read"] for e in entries),
                "duplicates": sum(e["duplicates"] for e in entries),
            },
        )
        partitions.append((entity, dt))
        for entry in entries:
            if "reason" in entry:
                log.warning(
                    "store: %s quarantined whole (%d lines): %s", entry["name"], entry["lines_read"], entry["reason"]
                )
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
            ("files", len(entries)),
            ("loaded", table.num_rows),
            ("quarantined", len(rejected)),
            ("duplicates_dropped", sum(e["duplicates"] for e in entries)),
            ("partitions", 1),
        ):
            totals[entity][name] += value
        for item in loaded:
            registry.by_path[item.drop.relative] = item.identity
            registry.by_hash[item.identity] = canonical[item.identity]
        _save_registry(lake, registry)
    entities = {k: dict(v) for k, v in totals.items()}
    log.info("store: %s", entities or "no new files")
    return {"entities": entities, "partitions": partitions}
