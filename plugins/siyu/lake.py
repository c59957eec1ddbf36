"""The raw lake: data/lake/raw/<source>/<entity>/dt=YYYY-MM-DD/ Parquet plus a manifest; rerunning an
interval replaces its partition. Rejected rows go to data/lake/quarantine/ in the same layout.

Crash safety: a process killed at any instruction (SIGKILL, the OOM killer, a lost worker) leaves every
partition either the old one or the new one, and the next write recovers what it left.

1. A write fills a hidden sibling, `.dt=<day>.tmp-<id>`: the data file, then the manifest, both flushed
   to disk (fsync) before anything is published.
2. It publishes with one atomic rename: onto the free name when the partition is new; when it replaces
   one, by exchanging the two folders in one step (Linux renameat2 RENAME_EXCHANGE), so `dt=<day>`
   never goes missing, and the hidden name then holds the old partition, which is deleted. Where the
   exchange is not supported, the old folder is renamed to `.dt=<day>.old-<id>` and the new one renamed
   in; a crash between those two renames leaves the partition absent until recovery puts it back.
3. Recovery (`recover`, and at the start of every write for the entity folder written) deletes every
   `.tmp-*` folder (an unfinished partition, or an old one already replaced) and every `.old-*` whose
   partition exists, and renames an `.old-*` back to its partition when the partition is missing.

Readers (dbt's sources, the GX gates, `manifests`) read only `dt=*` folders, never a hidden one. Writes
and recovery hold an exclusive lock on the entity folder (flock; the kernel drops it when a process
dies), so recovery never deletes a folder a live writer is still filling. A partition and its quarantine
are two folders, each published whole: a crash between them leaves the new data beside the old rejects
until the rerun, which the store's registry and the daily DAGs' retries make (docs/decisions.md
"Crash safety")."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)
MANIFEST = "_manifest.json"
ZONES = ("raw", "quarantine")
# What a write leaves beside a partition while it runs: `.dt=<day>.tmp-<id>` or `.dt=<day>.old-<id>`.
LEFTOVER = re.compile(r"\.(?P<partition>dt=.+)\.(?P<kind>tmp|old)-[0-9a-f]+")


def table_from_rows(schema: pa.Schema, rows: list[dict]) -> pa.Table:
    """Rows (dicts from an API) as a table of exactly the schema's columns; missing keys become null."""
    return pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)


def partition_dir(root: Path, zone: str, source: str, entity: str, dt: str) -> Path:
    return Path(root) / zone / source / entity / f"dt={dt}"


@contextmanager
def _entity_lock(folder: Path) -> Iterator[None]:
    """Hold the entity folder's exclusive lock: one writer or recovery at a time per entity folder."""
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _fsync(path: Path) -> None:
    """Flush a file to disk before it is published, so a machine crash cannot leave a published partition
    whose bytes were never written (a killed process alone loses nothing the kernel already holds; renames
    are ordered after the writes by the file system's journal)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@functools.cache
def _renameat2():
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not Linux, or a libc without it (glibc < 2.28)
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


def _exchange(first: Path, second: Path) -> bool:
    """Swap two existing folders in one atomic step; False where the system cannot (then nothing moved)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    at_cwd, rename_exchange = -100, 2  # AT_FDCWD, RENAME_EXCHANGE from <fcntl.h>, <linux/fs.h>
    if renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # the file system or kernel lacks it
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def _leftover(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.name}.{kind}-{uuid.uuid4().hex[:8]}")


def _publish(staging: Path, target: Path) -> None:
    """Put a fully written staging folder in the target's place (step 2 of the module docstring)."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging)  # now the old partition
        return
    retired = _leftover(target, "old")
    os.rename(target, retired)
    os.rename(staging, target)
    shutil.rmtree(retired)


def _recover_folder(folder: Path) -> list[str]:
    """Step 3 of the module docstring for one entity folder (its lock held); what it did, one line each."""
    done = []
    for name in sorted(os.listdir(folder)):
        if (match := LEFTOVER.fullmatch(name)) is None:
            continue
        leftover, partition = folder / name, folder / match["partition"]
        if match["kind"] == "old" and not partition.exists():
            os.rename(leftover, partition)
            done.append(f"restored {partition} from {name}")
        else:
            shutil.rmtree(leftover)
            done.append(f"removed {leftover}")
    if done:
        log.warning("lake: recovered after an interrupted write: %s", "; ".join(done))
    return done


def recover(root: Path) -> list[str]:
    """Recover every entity folder of the lake from interrupted writes (restore a partition renamed away,
    delete unfinished and retired copies); returns what was done. Safe beside running writers: it waits
    for the entity folder's lock. Writes recover their own entity folder, so this is for readers that
    must not start on a missing partition (dbt_build calls it first)."""
    done = []
    for zone in ZONES:
        for folder in sorted(Path(root).glob(f"{zone}/*/*/")):
            if any(LEFTOVER.fullmatch(name) for name in os.listdir(folder)):
                with _entity_lock(folder):
                    done += _recover_folder(folder)
    return done


def _write_folder(target: Path, fill) -> None:
    """Recover the entity folder, let `fill(staging)` write the new partition, and publish it."""
    with _entity_lock(target.parent):
        _recover_folder(target.parent)
        staging = _leftover(target, "tmp")
        staging.mkdir()
        try:
            fill(staging)
            for path in staging.iterdir():
                _fsync(path)
        except Exception:  # an error, not a crash: nothing was published, leave nothing behind
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _publish(staging, target)


def _remove_folder(target: Path) -> None:
    """Delete a published partition in one step: rename it to a leftover name, then delete that."""
    if not target.parent.exists():
        return
    with _entity_lock(target.parent):
        _recover_folder(target.parent)
        if target.exists():
            retired = _leftover(target, "tmp")
            os.rename(target, retired)
            shutil.rmtree(retired)


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
    The same call twice leaves the same data: the partition is replaced, never appended to. Rows of erased
    customers (the suppression list, siyu.privacy) are dropped first and counted (`suppressed`)."""
    from siyu.privacy import drop_suppressed

    manifest: dict = {}
    table, suppressed = drop_suppressed(table, root)
    if quarantined is not None:
        quarantined, suppressed_rejects = drop_suppressed(quarantined, root)
        suppressed += suppressed_rejects
    if suppressed:
        extra = {**(extra or {}), "suppressed": suppressed}

    def fill(staging: Path) -> None:
        data_file = staging / "part-0.parquet"
        pq.write_table(table, data_file, compression="zstd")
        manifest.update(
            {
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
        )
        (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")

    _write_folder(partition_dir(root, "raw", source, entity, dt), fill)
    if quarantined is not None and quarantined.num_rows:
        write_quarantine(root, source, entity, dt, quarantined, run_id=run_id)
    else:  # a clean rerun leaves no stale rejects behind
        _remove_folder(partition_dir(root, "quarantine", source, entity, dt))
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
    from siyu.privacy import drop_suppressed

    rejected, _ = drop_suppressed(rejected, root)
    rows = rejected.append_column("run_id", pa.array([run_id] * rejected.num_rows, pa.string()))
    _write_folder(target, lambda staging: pq.write_table(rows, staging / "part-0.parquet"))
    return target


def rewrite_partition(partition: Path, edit, *, reason: str) -> int | None:
    """Rewrite a published partition (raw or quarantine) as `edit(table)` returns it (None: leave it as it
    is), through the same staging folder, fsync and atomic exchange as a write, under the entity lock, so a
    crash leaves the old partition or the new one and no writer interleaves (the rows are read under the
    lock). A raw partition's manifest gets the new row count and checksum and counts the rows removed
    (`removed_rows`, with `reason`); its run and window stay. Returns how many rows were removed, None when
    the partition was left untouched."""
    if not partition.parent.exists():
        return 0
    with _entity_lock(partition.parent):
        _recover_folder(partition.parent)
        data_file = partition / "part-0.parquet"
        if not data_file.exists():
            return 0
        table = pq.read_table(data_file)
        kept = edit(table)
        if kept is None:
            return None
        removed = table.num_rows - kept.num_rows
        staging = _leftover(partition, "tmp")
        staging.mkdir()
        try:
            compression = pq.ParquetFile(data_file).metadata.row_group(0).column(0).compression.lower()
            pq.write_table(kept, staging / "part-0.parquet", compression=compression)
            if (partition / MANIFEST).exists():
                manifest = json.loads((partition / MANIFEST).read_text(encoding="utf-8"))
                manifest["rows"] = kept.num_rows
                manifest["checksum_sha256"] = hashlib.sha256((staging / "part-0.parquet").read_bytes()).hexdigest()
                manifest["removed_rows"] = manifest.get("removed_rows", 0) + removed
                manifest["removed_reason"] = reason
                manifest["rewritten_at"] = datetime.now(UTC).isoformat(timespec="seconds")
                text = json.dumps(manifest, ensure_ascii=False, indent=2)
                (staging / MANIFEST).write_text(text, encoding="utf-8")
            for path in staging.iterdir():
                _fsync(path)
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _publish(staging, partition)
    log.info("lake: %s rewritten without %d rows (%s)", partition, removed, reason)
    return removed


def partitions(root: Path) -> list[Path]:
    """Every published partition folder, raw and quarantine."""
    return sorted(path for zone in ZONES for path in Path(root).glob(f"{zone}/*/*/dt=*") if path.is_dir())


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
