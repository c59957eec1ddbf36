"""The engine's side of erasure and of a build's cleanup, for the DuckDB warehouse: which tables hold a column,
deleting the rows that hold given values, the residue check, the copy-and-swap compaction, and dropping the
temporary relations dbt leaves. siyu.privacy and siyu.transform say what to remove and why; the SQL that does
it is here, beside the DuckDB Warehouse (a Spark warehouse, issue 21, brings its own)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb

from siyu.warehouse.duckdb import quoted

log = logging.getLogger(__name__)


def _in_list(values: Iterable[str]) -> str:
    listed = ", ".join("'" + value.replace("'", "''") + "'" for value in sorted(values))
    return f"({listed or 'null'})"


def _base_tables(connection) -> list[tuple[str, str]]:
    return connection.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = current_database() and table_type = 'BASE TABLE' order by 1, 2"
    ).fetchall()


def tables_with_column(warehouse: Path, column: str) -> list[str]:
    """`schema.name` of every table (views left out: they are the lake's, read there) with the column."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return [
            f"{schema}.{name}"
            for schema, name in _base_tables(connection)
            if column in {row[0] for row in connection.execute(f"describe {quoted(schema, name)}").fetchall()}
        ]


def delete_rows(warehouse: Path, matches: dict[str, dict[str, set[str]]]) -> dict[str, int]:
    """Delete, from each table (`schema.name`) the warehouse has, the rows where any listed column holds one
    of its values (`{table: {column: values}}`). Returns the rows deleted per table (tables with none left
    out)."""
    removed: dict[str, int] = {}
    with duckdb.connect(str(warehouse)) as connection:
        existing = {f"{schema}.{name}" for schema, name in _base_tables(connection)}
        for table, columns in matches.items():
            if table not in existing:
                continue
            condition = " or ".join(f"{quoted(column)} in {_in_list(values)}" for column, values in columns.items())
            count = connection.execute(f"delete from {quoted(*table.split('.'))} where {condition}").fetchone()[0]
            if count:
                removed[table] = count
    return removed


def drop_tables(warehouse: Path, tables: Iterable[str]) -> list[str]:
    """Drop each table (`schema.name`) the warehouse has; returns those dropped."""
    dropped = []
    with duckdb.connect(str(warehouse)) as connection:
        existing = {f"{schema}.{name}" for schema, name in _base_tables(connection)}
        for table in tables:
            if table in existing:
                connection.execute(f"drop table {quoted(*table.split('.'))}")
                dropped.append(table)
    return dropped


def _key_parts(column: str) -> str:
    return f"string_split({quoted(column)}, ':')"


def residue(warehouse: Path, values: set[str]) -> dict[str, int]:
    """Rows of each table holding any of the values in a text column (or a list of texts), alone or as a
    part of a key such as phone:+86... or member:<card>."""
    found: dict[str, int] = {}
    if not values:
        return found
    listed = _in_list(values)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        for schema, name in _base_tables(connection):
            columns = connection.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? and (data_type = 'VARCHAR' or data_type = 'VARCHAR[]')",
                [schema, name],
            ).fetchall()
            listed_array = f"[{listed[1:-1]}]"
            conditions = [
                f"list_has_any({quoted(column)}, {listed_array})"
                if kind.endswith("[]")
                else f"({quoted(column)} in {listed} or list_has_any({_key_parts(column)}, {listed_array}))"
                for column, kind in columns
            ]
            if conditions:
                where = " or ".join(conditions)
                count = connection.execute(f"select count(*) from {quoted(schema, name)} where {where}")
                if rows := count.fetchone()[0]:
                    found[f"{schema}.{name}"] = rows
    return found


def compact(warehouse: Path) -> None:
    """Copy the warehouse into a new file and swap it in (one rename): DuckDB keeps deleted rows' bytes in
    the free blocks of its file until they are overwritten; the copy holds only live data."""
    fresh = warehouse.with_name(f".{warehouse.name}.compact-{uuid.uuid4().hex[:8]}")
    try:
        with duckdb.connect() as connection:
            connection.execute(f"attach '{warehouse}' as old_warehouse (read_only)")
            connection.execute(f"attach '{fresh}' as compacted")
            connection.execute("copy from database old_warehouse to compacted")
            connection.execute("detach compacted")
            connection.execute("detach old_warehouse")
        with open(fresh, "rb") as written:
            os.fsync(written.fileno())
        os.replace(fresh, warehouse)
        Path(f"{warehouse}.wal").unlink(missing_ok=True)
    finally:
        fresh.unlink(missing_ok=True)
        Path(f"{fresh}.wal").unlink(missing_ok=True)


# A warehouse whose file holds more than this share of free blocks is compacted after a build: DuckDB reuses
# free blocks but never gives them back, so a daily rebuild of every table grows the file (issue 22 measured
# 318 MB -> 525 MB after one daily run). At 0.2 the file stays within 1.25x of its live data.
COMPACT_FREE_SHARE = 0.2


def free_share(warehouse: Path) -> float:
    """The share of the warehouse file's blocks that hold nothing (0 for a missing or empty file)."""
    if not warehouse.exists():
        return 0.0
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        total, free = connection.execute("select total_blocks, free_blocks from pragma_database_size()").fetchone()
    return free / total if total else 0.0


def compact_when_bloated(warehouse: Path, threshold: float = COMPACT_FREE_SHARE) -> tuple[int, int] | None:
    """Compact (copy and swap) when more than `threshold` of the file is free blocks; returns the file's
    size before and after, None when it was not needed. Only while no one else holds the file: the caller
    is the warehouse's one writer (dbt_build, after dbt closed it)."""
    share = free_share(warehouse)
    if share <= threshold:
        return None
    before = warehouse.stat().st_size
    compact(warehouse)
    return before, warehouse.stat().st_size


def drop_temporary_relations(warehouse: Path) -> list[str]:
    """Drop the `__dbt_tmp` relations a build leaves in the warehouse (dbt-duckdb stages a Python incremental
    model's new rows in a real table, `int_identity_map__dbt_tmp<timestamp>`, raw identifiers included, and
    never drops it; a killed build leaves any), then CHECKPOINT so their space is reused. Returns them
    (`schema.name`). When another process holds the warehouse it logs and leaves them for the next build."""
    if not warehouse.exists():
        return []
    try:
        with duckdb.connect(str(warehouse)) as connection:
            leftovers = connection.execute(
                "select table_schema, table_name, table_type from information_schema.tables"
                " where table_catalog = current_database() and contains(table_name, '__dbt_tmp')"
            ).fetchall()
            for schema, name, table_type in leftovers:
                kind = "view" if table_type == "VIEW" else "table"
                connection.execute(f"drop {kind} if exists {quoted(schema, name)}")
            if leftovers:
                connection.execute("checkpoint")
    except duckdb.Error as error:
        log.warning("dbt build: left dbt's temporary relations in %s: %s", warehouse, error)
        return []
    return [f"{schema}.{name}" for schema, name, _ in leftovers]


def sends_digest(warehouse: Path, before: str | None) -> str:
    """A digest of activation.sends as the frequency caps read it for audiences as of `before`: the sends
    before that day, without the run that wrote them ('' without a warehouse or the table). An activation
    re-exporting the day, or exporting the as-of day itself, leaves it unchanged."""
    if not Path(warehouse).exists():
        return ""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        exists = connection.execute(
            "select count(*) from information_schema.tables where table_schema = 'activation' and table_name = 'sends'"
        ).fetchone()[0]
        if not exists:
            return ""
        condition = "sent_on < cast(? as date)" if before else "true"
        rows, digest = connection.execute(
            "select count(*), coalesce(sum(hash(customer_id, audience, channel, sent_on) % 1000000007), 0) "
            f"from activation.sends where {condition}",
            [before] if before else [],
        ).fetchone()
    return f"{rows}:{digest}"
