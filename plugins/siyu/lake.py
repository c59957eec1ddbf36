"""The raw lake: data/lake/raw/<source>/<entity>/dt=YYYY-MM-DD/ Parquet plus a manifest, written
atomically; rerunning an interval replaces its partition. Rejected rows go to data/lake/quarantine/."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)
MANIFEST = "_manifest.json"


def table_from_rows(schema: pa.Schema, rows: list[dict]) -> pa.Table:
    """Rows (dicts from an API) as a table of exactly the schema's columns; missing keys become null."""
    return pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)


def partition_dir(root: Path, zone: str, source: str, entity: str, dt: str) -> Path:
    return Path(root) / zone / source / entity / f"dt={dt}"


def _replace_dir(staging: Path, target: Path) -> None:
    """Swap a fully written staging folder into place: rename the old one away, rename the new one in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


def write_partition(
    root: Path,
    source: str,
    entity: str,
    dt: str,
    table: pa.Table,
    *,
    run_id: str,
    window: tuple[str, str],
    quarantined: pa.Table | None = None,
    extra: dict | None = None,
) -> dict:
    """Write one partition and its manifest (rows, source window, run id, checksum, quarantined count).
    The same call twice leaves the same data: the partition is replaced, never appended to."""
    target = partition_dir(root, "raw", source, entity, dt)
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    data_file = staging / "part-0.parquet"
    pq.write_table(table, data_file, compression="zstd")
    manifest = {
        "source": source,
        "entity": entity,
        "dt": dt,
        "rows": table.num_rows,
        "columns": table.column_names,
        "window": {"start": window[0], "end": window[1]},
        "run_id": run_id,
        "checksum_sha256": hashlib.sha256(data_file.read_bytes()).hexdigest(),
        "quarantined": 0 if quarantined is None else quarantined.num_rows,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    _replace_dir(staging, target)
    if quarantined is not None and quarantined.num_rows:
        write_quarantine(root, source, entity, dt, quarantined, run_id=run_id)
    else:  # a clean rerun leaves no stale rejects behind
        shutil.rmtree(partition_dir(root, "quarantine", source, entity, dt), ignore_errors=True)
    log.info(
        "lake: %s/%s dt=%s rows=%d quarantined=%d run=%s",
        source,
        entity,
        dt,
        manifest["rows"],
        manifest["quarantined"],
        run_id,
    )
    return manifest


def write_quarantine(root: Path, source: str, entity: str, dt: str, rejected: pa.Table, *, run_id: str) -> Path:
    """Rejected rows with file, line, raw text and reason, replaced per partition like the data."""
    target = partition_dir(root, "quarantine", source, entity, dt)
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    pq.write_table(
        rejected.append_column("run_id", pa.array([run_id] * rejected.num_rows, pa.string())),
        staging / "part-0.parquet",
    )
    _replace_dir(staging, target)
    return target


def read_manifest(root: Path, source: str, entity: str, dt: str) -> dict:
    return json.loads((partition_dir(root, "raw", source, entity, dt) / MANIFEST).read_text(encoding="utf-8"))


def manifests(root: Path) -> list[dict]:
    """Every partition's manifest: the queryable record of what was read, loaded and set aside."""
    return [
        json.loads(path.read_text(encoding="utf-8")) for path in sorted(Path(root).glob(f"raw/*/*/dt=*/{MANIFEST}"))
    ]


def summary(root: Path) -> list[dict]:
    """Rows, partitions and quarantined rows per source entity (latest manifest of each partition)."""
    totals: dict[tuple[str, str], dict] = {}
    for manifest in manifests(root):
        entry = totals.setdefault(
            (manifest["source"], manifest["entity"]),
            {"source": manifest["source"], "entity": manifest["entity"], "partitions": 0, "rows": 0, "quarantined": 0},
        )
        entry["partitions"] += 1
        entry["rows"] += manifest["rows"]
        entry["quarantined"] += manifest["quarantined"]
    return list(totals.values())
