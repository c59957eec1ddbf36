"""PIPL rights: erasure (art. 47) and subject access (art. 45), with a suppression list of keyed pseudonyms
so re-ingested old records do not bring an erased customer back (docs/privacy.md).

Erasure of one request, in an order that a retry can resume at any point:
1. resolve the identifier (phone, unionid, external_userid, member card, shop account, or a customer id,
   followed through customer_merges) to the customer's ids and identifiers in the warehouse;
2. add the keyed pseudonyms of her identifiers and ids to the suppression list (before anything is deleted,
   so every later step, a retry and every later ingestion find her by pseudonym alone);
3. remove siyu's corp tags from her WeCom friendships;
4. rewrite every lake partition (raw and quarantine) holding her rows without them (siyu.lake's atomic
   rewrite); rows of her orders follow their order (order ids join the suppression list);
5. rewrite exports on disk without her rows;
6. delete her rows from the warehouse tables that are not rebuilt (identity map, merges, daily segments,
   membership changes, sends), drop the tables folded from the lake by month (int_friendship_months: their
   older months would keep her), rebuild with dbt, check no table holds any of her values, and compact the
   DuckDB file (a copy to a new file swapped in) so deleted bytes do not linger in free blocks; on Spark a
   kept table is rewritten without her rows (siyu.warehouse.spark_maintenance) and needs no compaction;
7. append the audit record (request id, received, done, counts per place; no personal data) and delete
   the request file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from siyu.pseudonyms import fingerprint, forms, privacy_dir, pseudonym, pseudonym_key

if TYPE_CHECKING:  # the warehouse side (pandas, DuckDB) is imported where used: ingestion imports this module
    import pandas as pd

log = logging.getLogger(__name__)
ID_TYPES = ("phone", "unionid", "external_userid", "member_card", "yz_open_id", "openid")
# What a request may name an identifier as (the CLI's --type), to the identity graph's id_type.
TYPE_NAMES = {**{name: name for name in ID_TYPES}, "shop_account": "yz_open_id", "card": "member_card"}
CUSTOMER_ID = re.compile(r"C[0-9a-f]{16}")
# Rows keyed by an order id follow their order: its items and refunds have no personal identifier.
CASCADE_KEYS = {("shop", "orders"): "tid"}
# Warehouse tables a build does not rebuild from the lake (incremental, never wiped): erasure deletes her
# rows there itself; every other table is rebuilt from the lake without her.
KEPT_TABLES = {
    "intermediate.int_identity_map": ("customer_id", "previous_customer_id"),
    "marts.customer_merges": ("merged_id", "into_id"),
    "marts.customer_segments_daily": ("customer_id",),
    # Incremental since issue 22: periods before the recompute window stay as stored.
    "marts.customer_tags": ("customer_id",),
    "audiences.audience_membership_changes": ("customer_id",),
    "activation.sends": ("customer_id",),
}
# Warehouse tables a build keeps in part and folds again from the lake when they are missing: erasure drops
# them before its rebuild, as their older parts would keep her (a friendship she left, a phone noted on it).
REFOLDED_TABLES = ("intermediate.int_friendship_months",)
TOKEN_SPLIT = re.compile(r"[\s,;|/\"'()\[\]{}<>=]+")
PHONE_IN_TEXT = re.compile(r"(?:\+?86[ -]?)?1[3-9](?:[ -]?[0-9]){9}")
SUPPRESSION_SCHEMA = pa.schema(
    [
        ("pseudonym", pa.string()),
        ("kind", pa.string()),
        ("request_id", pa.string()),
        ("key_fingerprint", pa.string()),
        ("added_at", pa.string()),
    ]
)


class UnknownKey(RuntimeError):
    """The suppression list holds pseudonyms made under a key siyu no longer has (docs/privacy.md)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def suppression_path(lake: Path | None = None) -> Path:
    return privacy_dir(lake) / "suppressions.parquet"


def audit_path(lake: Path | None = None) -> Path:
    return privacy_dir(lake) / "erasure_audit.jsonl"


def requests_dir(lake: Path | None = None) -> Path:
    return privacy_dir(lake) / "erasure_requests"


def _retired_keys(lake: Path | None) -> list[bytes]:
    """Keys retired by a rotation, kept only to match the suppression list made under them."""
    folder = privacy_dir(lake) / "retired_keys"
    return [path.read_text().strip().encode() for path in sorted(folder.glob("*.key"))] if folder.exists() else []


def read_suppressions(lake: Path | None = None) -> pa.Table:
    path = suppression_path(lake)
    return pq.read_table(path) if path.exists() else SUPPRESSION_SCHEMA.empty_table()


def _write_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        write(staging)
        with open(staging, "rb") as written:
            os.fsync(written.fileno())
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def add_suppressions(lake: Path | None, entries: Iterable[tuple[str, str]], request_id: str) -> int:
    """Add (pseudonym, kind) entries under the current key; returns how many were new."""
    key = pseudonym_key(lake)
    current = read_suppressions(lake)
    known = set(current.column("pseudonym").to_pylist())
    new = sorted({entry for entry in entries if entry[0] not in known})
    if not new:
        return 0
    rows = pa.Table.from_pylist(
        [
            {"pseudonym": value, "kind": kind, "request_id": request_id, "key_fingerprint": fingerprint(key)}
            | {"added_at": _now()}
            for value, kind in new
        ],
        schema=SUPPRESSION_SCHEMA,
    )
    table = pa.concat_tables([current, rows])
    _write_atomically(suppression_path(lake), lambda path: pq.write_table(table, path))
    return len(new)


class Matcher:
    """Tells whether a cell holds a suppressed identifier: the keyed pseudonym of the cell, of its
    normalised forms (phone, lower-cased) and of each word in it, is in the list. Pseudonyms made under a
    retired key are matched with that key."""

    def __init__(self, suppressions: pa.Table, lake: Path | None = None):
        self.key = pseudonym_key(lake)
        keys = {fingerprint(key): key for key in [self.key, *_retired_keys(lake)]}
        self.sets: dict[bytes, set[str]] = {}
        for value, key_id in zip(
            suppressions.column("pseudonym").to_pylist(),
            suppressions.column("key_fingerprint").to_pylist(),
            strict=True,
        ):
            if key_id not in keys:
                raise UnknownKey(
                    f"the suppression list holds pseudonyms under key {key_id}, which siyu does not have: put it "
                    f"back in {privacy_dir(lake) / 'retired_keys'} (docs/privacy.md, key rotation)"
                )
            self.sets.setdefault(keys[key_id], set()).add(value)
        self.cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.sets)

    def add(self, value: str) -> None:
        self.sets.setdefault(self.key, set()).add(pseudonym(value, self.key))
        self.cache.clear()

    def holds(self, cell) -> bool:
        if cell is None:
            return False
        if isinstance(cell, list | tuple):
            return any(self.holds(item) for item in cell)
        if not isinstance(cell, str):
            return False
        if (answer := self.cache.get(cell)) is None:
            candidates = forms(cell)
            for word in TOKEN_SPLIT.split(cell):
                if word and word != cell:
                    candidates |= forms(word)
            for written in PHONE_IN_TEXT.findall(cell):  # a phone written with spaces or dashes in a text
                candidates |= forms(written)
            answer = any(pseudonym(form, key) in found for key, found in self.sets.items() for form in candidates)
            self.cache[cell] = answer
        return answer

    def hits(self, table: pa.Table) -> list[bool]:
        """Which rows hold a suppressed value in a text column (not in a list: see scrub)."""
        hits = [False] * table.num_rows
        for column in table.columns:
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                for number, cell in enumerate(column.to_pylist()):
                    if not hits[number] and self.holds(cell):
                        hits[number] = True
        return hits

    def scrub(self, table: pa.Table) -> tuple[pa.Table | None, int, int]:
        """The table without what holds a suppressed value: a row whose text cell holds one is removed; a
        value in a list (a group message's recipients, the phones noted on a friendship) is taken out of the
        list, the row kept. Returns (table or None when nothing changed, rows removed, list values removed)."""
        hits = self.hits(table)
        lists: dict[int, list] = {}
        scrubbed = 0
        for position, column in enumerate(table.columns):
            kind = column.type
            if pa.types.is_list(kind) and pa.types.is_string(kind.value_type):
                cells = column.to_pylist()
                for number, cell in enumerate(cells):
                    if cell and any(self.holds(item) for item in cell):
                        kept = [item for item in cell if not self.holds(item)]
                        scrubbed += len(cell) - len(kept)
                        cells[number] = kept
                        lists[position] = cells
        removed = sum(hits)
        if not removed and not scrubbed:
            return None, 0, 0
        for position, cells in lists.items():
            table = table.set_column(position, table.field(position), pa.array(cells, table.field(position).type))
        if removed:
            table = table.filter(pa.array([not hit for hit in hits], pa.bool_()))
        return table, removed, scrubbed


def drop_suppressed(table: pa.Table, lake: Path | None) -> tuple[pa.Table, int]:
    """A table about to be written to the lake, without what belongs to erased customers (the suppression
    list); returns what is kept and how many rows were dropped. No list, no cost."""
    suppressions = read_suppressions(lake)
    if not suppressions.num_rows or not table.num_rows:
        return table, 0
    scrubbed, removed, _ = Matcher(suppressions, lake).scrub(table)
    return (table, 0) if scrubbed is None else (scrubbed, removed)


# --- resolving a request -------------------------------------------------------------------------------


@dataclass
class Subject:
    """Whom a request names, as the warehouse knows her: ids (current and merged away) and identifiers."""

    customer_ids: set[str] = field(default_factory=set)
    merged_ids: set[str] = field(default_factory=set)
    node_keys: set[str] = field(default_factory=set)

    @property
    def all_ids(self) -> set[str]:
        return self.customer_ids | self.merged_ids

    @property
    def values(self) -> set[str]:
        return {key.split(":", 1)[1] for key in self.node_keys}

    def values_of(self, id_type: str) -> set[str]:
        return {key.split(":", 1)[1] for key in self.node_keys if key.startswith(id_type + ":")}


def resolve(warehouse, identifier: str, id_type: str | None = None) -> Subject:
    """The customer a request names, in the warehouse (siyu.warehouse): a customer id merged into another
    resolves to the one it went into (customer_merges), and every id merged into hers is hers too."""
    return _resolve(warehouse.read("int_identity_map"), warehouse.read("customer_merges"), identifier, id_type)


def _resolve(identity_map: pd.DataFrame, merges: pd.DataFrame, identifier: str, id_type: str | None) -> Subject:
    """resolve, on the identity map read whole (every identifier siyu ever mapped, not only those the lake
    still shows: erasure removes all she left) and the merges."""
    identifier = identifier.strip()
    current = set(identity_map["customer_id"])
    merges = merges.sort_values("merged_at", kind="stable")
    merge_pairs = list(zip(merges["merged_id"], merges["into_id"], strict=True))
    if id_type == "customer_id" or (id_type is None and CUSTOMER_ID.fullmatch(identifier)):
        start = {identifier}
    else:
        types = [TYPE_NAMES[id_type]] if id_type else list(ID_TYPES)
        keys = {f"{kind}:{form}" for kind in types for form in forms(identifier)}
        start = set(identity_map.loc[identity_map["node_key"].isin(keys), "customer_id"])
    into = dict(merge_pairs)  # the latest merge of an id wins (ordered by merged_at)
    subject = Subject()
    for customer_id in start:
        seen = set()
        while customer_id not in current and customer_id in into and customer_id not in seen:
            seen.add(customer_id)
            subject.merged_ids.add(customer_id)
            customer_id = into[customer_id]
        if customer_id in current:
            subject.customer_ids.add(customer_id)
        else:
            subject.merged_ids.add(customer_id)
    # ids merged into hers, at any depth, that no longer name anyone
    changed = True
    while changed:
        found = {merged for merged, target in merge_pairs if target in subject.all_ids and merged not in current}
        changed = bool(found - subject.merged_ids)
        subject.merged_ids |= found
    if subject.customer_ids:
        subject.node_keys = set(identity_map.loc[identity_map["customer_id"].isin(subject.customer_ids), "node_key"])
    return subject


# --- erasure ---------------------------------------------------------------------------------------------


def _subject_matcher(subject: Subject, lake: Path | None) -> Matcher:
    """A matcher of her identifiers and ids alone (not the whole suppression list)."""
    matcher = Matcher(SUPPRESSION_SCHEMA.empty_table(), lake)
    for value in subject.values | subject.all_ids:
        matcher.add(value)
    return matcher


def erase_lake(lake: Path, matcher: Matcher, request_id: str) -> tuple[dict[str, int], set[str]]:
    """Rewrite every partition holding her rows without them (orders first: their ids join the matcher, so
    their items and refunds follow). Returns rows removed per zone/source/entity and the order ids."""
    from siyu.lake import partitions, rewrite_partition

    removed: dict[str, int] = {}
    order_ids: set[str] = set()
    ordered = sorted(partitions(lake), key=lambda path: (path.parent.parent.name, path.parent.name) not in CASCADE_KEYS)
    for partition in ordered:
        source, entity, zone = partition.parent.parent.name, partition.parent.name, partition.parents[2].name
        cascade = CASCADE_KEYS.get((source, entity)) if zone == "raw" else None

        def edit(table: pa.Table, cascade=cascade) -> pa.Table | None:
            kept, _, _ = matcher.scrub(table)
            if kept is not None and cascade:
                gone = set(table.column(cascade).to_pylist()) - set(kept.column(cascade).to_pylist())
                order_ids.update(gone)
                for order_id in gone:
                    matcher.add(order_id)
            return kept

        count = rewrite_partition(partition, edit, reason=f"erasure {request_id}")
        if count is not None:
            place = f"lake/{zone}/{source}/{entity}"
            removed[place] = removed.get(place, 0) + count
    return removed, order_ids


def erase_exports(exports: Path, matcher: Matcher) -> dict[str, int]:
    """Rewrite each export folder on disk without her rows (Parquet and CSV files; the manifest's row count
    and file checksums follow), swapped in whole as the export was."""
    import hashlib
    import shutil

    import pandas as pd

    removed: dict[str, int] = {}
    if not exports.exists():
        return removed
    for manifest_path in sorted(exports.glob("*/*/_manifest.json")):
        folder = manifest_path.parent
        staging = folder.with_name(f".{folder.name}.erase-{uuid.uuid4().hex[:8]}")
        shutil.copytree(folder, staging)
        changed = 0
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for path in sorted(staging.iterdir()):
            if path.suffix == ".parquet":
                table = pq.read_table(path)
                kept, rows, _ = matcher.scrub(table)
                if kept is not None:
                    pq.write_table(kept, path)
                    changed += rows
                    if "rows" in manifest:
                        manifest["rows"] = kept.num_rows
            elif path.suffix == ".csv":
                encoding = "utf-8-sig" if path.read_bytes()[:3] == b"\xef\xbb\xbf" else "utf-8"
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
                hits = frame.apply(lambda row: any(matcher.holds(cell) for cell in row), axis=1)
                if len(frame) and hits.any():
                    frame[~hits].to_csv(path, index=False, encoding=encoding)
                    changed += int(hits.sum())
        if not changed:
            shutil.rmtree(staging)
            continue
        for name, entry in (manifest.get("files") or {}).items():
            if (staging / name).exists() and isinstance(entry, dict):
                entry["sha256"] = hashlib.sha256((staging / name).read_bytes()).hexdigest()
                entry["bytes"] = (staging / name).stat().st_size
        manifest["erased_at"] = _now()
        (staging / "_manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        retired = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(folder, retired)
        os.rename(staging, folder)
        shutil.rmtree(retired)
        place = f"exports/{folder.parent.name}"
        removed[place] = removed.get(place, 0) + changed
    return removed


def her_friendships(warehouse, subject: Subject) -> list[tuple[str, str]]:
    """(guide, external_userid) of her WeCom friendships, as the lake last saw them."""
    externals = subject.values_of("external_userid")
    if not externals:
        return []
    relations = warehouse.read("stg_wecom__relation_snapshots")
    hers = relations.loc[relations["external_userid"].isin(externals), ["guide_userid", "external_userid"]]
    hers = hers.drop_duplicates().sort_values(["guide_userid", "external_userid"])
    return list(hers.itertuples(index=False, name=None))


def untag_wecom(client, friendships: list[tuple[str, str]], tag_groups: set[str]) -> int:
    """Remove every tag of siyu's own tag groups from her friendships (mark_tag; removing a tag she does not
    have changes nothing, so a retry is safe). Tags others set are never touched. Returns the calls made."""
    if not friendships or not tag_groups:
        return 0
    managed = sorted(
        tag["id"] for group in client.corp_tags() if group.get("group_name") in tag_groups for tag in group["tag"]
    )
    if not managed:
        return 0
    for guide, external in friendships:
        client.mark_tag(guide, external, [], managed)
    return len(friendships)


def delete_kept_rows(warehouse: Path, subject: Subject) -> dict[str, int]:
    """Delete her rows from the tables a build never rebuilds (KEPT_TABLES): her ids in their id columns,
    and her identifiers in the identity map."""
    matches = {table: dict.fromkeys(columns, subject.all_ids) for table, columns in KEPT_TABLES.items()}
    matches["intermediate.int_identity_map"]["node_key"] = subject.node_keys
    removed = engine_maintenance().delete_rows(warehouse, matches)
    return {f"warehouse/{table}": count for table, count in removed.items()}


@dataclass
class ErasureRequest:
    request_id: str
    identifier: str
    id_type: str | None
    received_at: str
    # Whom it names, once resolved (kept in the request file until done: a retry after her identity map rows
    # were deleted still knows what to remove and check).
    resolved: dict | None = None

    def save(self, lake: Path | None) -> None:
        path = requests_dir(lake) / f"{self.request_id}.json"
        _write_atomically(path, lambda staging: _write_private(staging, json.dumps(self.__dict__)))


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)


def engine_maintenance():
    """The engine's side of erasure for the settings' engine (siyu.config): delete_rows, residue, compact and
    tables_with_column of siyu.warehouse.maintenance (DuckDB) or siyu.warehouse.spark_maintenance (Spark,
    local session or Thrift server: a kept table is rewritten without her rows; docs/spark.md)."""
    from siyu.config import load_settings

    if load_settings().engine == "spark":
        from siyu.warehouse import spark_maintenance

        return spark_maintenance
    from siyu.warehouse import maintenance

    return maintenance


def request_erasure(identifier: str, id_type: str | None = None, lake: Path | None = None) -> ErasureRequest:
    """Record a request (one file, mode 0600, deleted once done) for the erase DAG or `siyu erase`."""
    if id_type is not None and id_type != "customer_id" and id_type not in TYPE_NAMES:
        raise ValueError(f"unknown identifier type {id_type!r}: one of customer_id, {', '.join(TYPE_NAMES)}")
    # The id sorts in the order requests came (the batch and the audit keep it) and says nothing of her.
    request_id = f"E{datetime.now(UTC):%Y%m%d%H%M%S%f}{uuid.uuid4().hex[:4]}"
    request = ErasureRequest(request_id, identifier.strip(), id_type, _now())
    request.save(lake)
    log.info("erasure: request %s recorded", request.request_id)
    return request


def pending_requests(lake: Path | None = None) -> list[ErasureRequest]:
    folder = requests_dir(lake)
    return (
        [ErasureRequest(**json.loads(path.read_text())) for path in sorted(folder.glob("E*.json"))]
        if folder.exists()
        else []
    )


def erase(
    requests: ErasureRequest | list[ErasureRequest],
    *,
    lake: Path,
    warehouse: Path,
    exports: Path | None,
    wecom_client=None,
    truth: Path | None = None,
) -> list[dict]:
    """Carry out requests (module docstring), with one rebuild and one compaction for all of them; returns
    their audit records, appended to the audit log once the warehouse is clean."""
    from siyu.transform import dbt_build
    from siyu.warehouse import open_warehouse

    maintenance = engine_maintenance()
    requests = [requests] if isinstance(requests, ErasureRequest) else list(requests)
    key = pseudonym_key(lake)
    records, residue_values = [], set()
    for request in requests:
        counts: dict[str, int] = {}
        if request.resolved is None:
            with open_warehouse(warehouse) as reader:
                subject = resolve(reader, request.identifier, request.id_type)
                catalogue = set(reader.read("wecom_tag_catalogue")["tag_group_name"])
                request.resolved = {
                    "customer_ids": sorted(subject.customer_ids),
                    "merged_ids": sorted(subject.merged_ids),
                    "node_keys": sorted(subject.node_keys),
                    "friendships": her_friendships(reader, subject) if subject.customer_ids else [],
                    "tag_groups": sorted(catalogue),
                    "order_ids": [],
                }
            request.save(lake)
        resolved = request.resolved
        subject = Subject(set(resolved["customer_ids"]), set(resolved["merged_ids"]), set(resolved["node_keys"]))
        entries = {(pseudonym(node.split(":", 1)[1], key), node.split(":", 1)[0]) for node in subject.node_keys}
        entries |= {(pseudonym(customer_id, key), "customer_id") for customer_id in subject.all_ids}
        counts["suppression_list/added"] = add_suppressions(lake, entries, request.request_id)
        if subject.customer_ids:
            if wecom_client is not None:
                friendships = [tuple(pair) for pair in resolved["friendships"]]
                counts["wecom/friendships_untagged"] = untag_wecom(
                    wecom_client, friendships, set(resolved["tag_groups"])
                )
            matcher = _subject_matcher(subject, lake)
            for order_id in resolved["order_ids"]:  # a retry: her orders already left the lake
                matcher.add(order_id)
            lake_counts, order_ids = erase_lake(lake, matcher, request.request_id)
            order_ids |= set(resolved["order_ids"])
            resolved["order_ids"] = sorted(order_ids)
            request.save(lake)
            counts |= lake_counts
            orders = {(pseudonym(order_id, key), "order_id") for order_id in order_ids}
            counts["suppression_list/added"] += add_suppressions(lake, orders, request.request_id)
            if exports is not None:
                counts |= erase_exports(exports, matcher)
            counts |= delete_kept_rows(warehouse, subject)
            residue_values |= subject.values | subject.all_ids | order_ids
        records.append(
            {
                "request_id": request.request_id,
                "received_at": request.received_at,
                "found": bool(subject.customer_ids),
                "customers": len(subject.customer_ids),
                "merged_ids": len(subject.merged_ids),
                "identifiers": len(subject.node_keys),
                "removed": counts,
            }
        )
    if residue_values:
        dropped = maintenance.drop_tables(warehouse, REFOLDED_TABLES)
        if dropped:
            log.info("erasure: dropped %s; the rebuild folds it again from the lake", ", ".join(dropped))
        result = dbt_build(lake, warehouse, truth=truth)
        if not result.success:
            raise RuntimeError(f"erasure: the rebuild failed: {result.failures}")
        left = maintenance.residue(warehouse, residue_values)
        if left:
            raise RuntimeError(f"erasure: erased values are still in {sorted(left)}")
        maintenance.compact(warehouse)
    path = audit_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        for record in records:
            record["done_at"] = _now()
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())
    for record in records:
        (requests_dir(lake) / f"{record['request_id']}.json").unlink(missing_ok=True)
        log.info("erasure %s done: %s", record["request_id"], record["removed"])
    return records


def process_requests(*, lake: Path, warehouse: Path, exports: Path | None, wecom_client=None, truth=None) -> list[dict]:
    """Every request waiting (the erase DAG's task), in one batch."""
    waiting = pending_requests(lake)
    if not waiting:
        return []
    return erase(waiting, lake=lake, warehouse=warehouse, exports=exports, wecom_client=wecom_client, truth=truth)


# --- consent -------------------------------------------------------------------------------------------

CONSENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("pseudonym", pa.string()),
        ("consent", pa.string()),
        ("event_at", pa.timestamp("us")),
        ("source", pa.string()),
        ("recorded_at", pa.string()),
    ]
)


def consent_path(lake: Path | None = None) -> Path:
    return privacy_dir(lake) / "consent_events.parquet"


def record_consent(identifier: str, consent: str, source: str, at: datetime, lake: Path | None = None) -> str:
    """Record a consent event (opt_in or opt_out) for whoever the identifier names, with its time (business-
    local, as siyu's timestamps) and source (wecom_callback, store_form, shop_setting, ...). Only keyed
    pseudonyms of the identifier's forms are kept; the next build matches them to the customer
    (int_consent_events) and the latest event wins. Returns the event id."""
    if consent not in ("opt_in", "opt_out"):
        raise ValueError(f"consent is opt_in or opt_out, not {consent!r}")
    key = pseudonym_key(lake)
    event_id = f"K{datetime.now(UTC):%Y%m%d%H%M%S%f}{uuid.uuid4().hex[:4]}"
    moment = at.replace(tzinfo=None)
    rows = pa.Table.from_pylist(
        [
            {"event_id": event_id, "pseudonym": pseudonym(form, key), "consent": consent, "event_at": moment}
            | {"source": source, "recorded_at": _now()}
            for form in sorted(forms(identifier))
        ],
        schema=CONSENT_SCHEMA,
    )
    path = consent_path(lake)
    table = pa.concat_tables([pq.read_table(path), rows]) if path.exists() else rows
    _write_atomically(path, lambda staging: pq.write_table(table, staging))
    log.info("consent: event %s (%s from %s) recorded", event_id, consent, source)
    return event_id


# --- subject access --------------------------------------------------------------------------------------

OTHER_CUSTOMER = "(another customer)"


def _plain(value):
    """A warehouse or lake value as JSON can hold it (a warehouse row comes as pandas gives it: numpy
    scalars and arrays, NaN or NaT for a null)."""
    import numpy as np
    import pandas as pd

    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return str(value)


def _only_hers(row: dict, subject: Subject) -> dict:
    """A row with any other customer's id blanked (a referral names the friend she brought)."""
    return {
        name: OTHER_CUSTOMER
        if isinstance(value, str) and CUSTOMER_ID.fullmatch(value) and value not in subject.all_ids
        else value
        for name, value in row.items()
    }


def _blank_others(held: dict[str, list[dict]], subject: Subject, identity_map: pd.DataFrame) -> None:
    """Blank, in place, every value of her rows that is another person's identifier: a raw order names the
    shop account of the friend who referred her (source_ref), a message the guide's peers. Her own
    identifiers stay; phones are compared in both the raw 11-digit and the +86 form."""
    mine = subject.values
    candidates = (
        {value for rows in held.values() for row in rows for value in row.values() if isinstance(value, str)}
        - mine
        - {OTHER_CUSTOMER}
    )
    if not candidates:
        return
    forms = {value: value for value in candidates}
    forms.update({f"+86{value}": value for value in candidates if value.isdigit() and len(value) == 11})
    others_rows = identity_map["customer_id"].notna() & ~identity_map["customer_id"].isin(subject.all_ids)
    values = identity_map.loc[others_rows, "node_key"].str.split(":", n=1).str[1]
    others = {forms[value] for value in set(values) & set(forms)} - mine
    for rows in held.values():
        for row in rows:
            for name, value in row.items():
                if isinstance(value, str) and value in others:
                    row[name] = OTHER_CUSTOMER


def subject_access(identifier: str, id_type: str | None, *, lake: Path, warehouse: Path, out: Path) -> dict:
    """Everything siyu holds on one person, from the warehouse (every table with her customer id, and her
    identifiers in the identity map) and the lake (every raw or quarantined row holding one of her
    identifiers, and her orders' items and refunds), each item with its source. Writes
    `<out>/subject_access.json` and a readable `<out>/subject_access.html`; returns the JSON's content."""
    from siyu.lake import partitions
    from siyu.warehouse import open_warehouse

    with_customer_id = engine_maintenance().tables_with_column(warehouse, "customer_id")
    with open_warehouse(warehouse) as reader:
        identity_map = reader.read("int_identity_map")
        subject = _resolve(identity_map, reader.read("customer_merges"), identifier, id_type)
        if not subject.customer_ids:
            raise LookupError("no customer is known by this identifier")
        held: dict[str, list[dict]] = {}
        for table in with_customer_id:
            frame = reader.read(table)
            hers = frame[frame["customer_id"].isin(subject.all_ids)].to_dict("records")
            rows = [_only_hers({name: _plain(value) for name, value in row.items()}, subject) for row in hers]
            if rows:
                held[f"warehouse:{table}"] = rows
    identifiers = [
        {
            "type": key.split(":", 1)[0],
            "value": key.split(":", 1)[1],
            "source": "warehouse:intermediate.int_identity_map",
        }
        for key in sorted(subject.node_keys)
    ]
    matcher = _subject_matcher(subject, lake)
    order_ids: set[str] = set()
    ordered = sorted(partitions(lake), key=lambda path: (path.parent.parent.name, path.parent.name) not in CASCADE_KEYS)
    for partition in ordered:
        source, entity, zone = partition.parent.parent.name, partition.parent.name, partition.parents[2].name
        data_file = partition / "part-0.parquet"
        if not data_file.exists():
            continue
        table = pq.read_table(data_file)
        hits = matcher.hits(table)
        if (cascade := CASCADE_KEYS.get((source, entity))) and zone == "raw":
            order_ids |= {value for value, hit in zip(table.column(cascade).to_pylist(), hits, strict=True) if hit}
            for order_id in order_ids:
                matcher.add(order_id)
        rows = [row for row, hit in zip(table.to_pylist(), hits, strict=True) if hit]
        if rows:
            held.setdefault(f"lake:{zone}/{source}/{entity}", []).extend(
                {"partition": partition.name, **{key: _plain(value) for key, value in row.items()}} for row in rows
            )
    _blank_others(held, subject, identity_map)
    report = {
        "generated_at": _now(),
        "customer_ids": sorted(subject.customer_ids),
        "merged_ids": sorted(subject.merged_ids),
        "identifiers": identifiers,
        "sources": {place: len(rows) for place, rows in sorted(held.items())},
        "items": held,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "subject_access.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "subject_access.html").write_text(_html(report), encoding="utf-8")
    for path in (out / "subject_access.json", out / "subject_access.html"):
        path.chmod(0o600)
    return report


def _html(report: dict) -> str:
    from html import escape

    def table(rows: list[dict], limit: int = 200) -> str:
        columns = list(dict.fromkeys(name for row in rows[:limit] for name in row))
        head = "".join(f"<th>{escape(name)}</th>" for name in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(str(row.get(name, '')))}</td>" for name in columns) + "</tr>"
            for row in rows[:limit]
        )
        more = f"<p>… and {len(rows) - limit} more rows (all of them in the JSON).</p>" if len(rows) > limit else ""
        return f"<table><tr>{head}</tr>{body}</table>{more}"

    parts = [
        "<!doctype html><meta charset='utf-8'><title>siyu: what we hold on you</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style>",
        "<h1>What siyu holds on you</h1>",
        f"<p>Generated {escape(report['generated_at'])}. Customer id(s): {escape(', '.join(report['customer_ids']))}."
        " Every item names its source: <code>warehouse:</code> a table of the warehouse, <code>lake:</code> the"
        " raw records as received from WeCom, the online shop or the stores.</p>",
        "<h2>Your identifiers</h2>",
        table(report["identifiers"]),
        "<h2>Where your data is</h2>",
        table([{"source": place, "items": count} for place, count in report["sources"].items()]),
    ]
    for place, rows in report["items"].items():
        parts += [f"<h2>{escape(place)}</h2>", table(rows)]
    return "\n".join(parts)
