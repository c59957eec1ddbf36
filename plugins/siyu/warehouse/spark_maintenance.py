"""The engine's side of erasure for the Spark warehouse (issue 21), as siyu.warehouse.maintenance is DuckDB's:
which tables hold a column, deleting the rows that hold given values, the residue check and compaction.
Through `siyu.warehouse.spark.connect`, so the same SQL runs on a local session and on a Thrift server.

Spark's tables are plain Parquet, with no DELETE: a table loses rows by being rewritten. The rows to keep are
copied to a side table (`<name>__erasure_kept`), the table is overwritten from it (`insert overwrite`; Spark
cannot overwrite a table it reads in the same statement), and the side table is dropped. A partitioned table
(customer_segments_daily, by snapshot_date) is overwritten with `partitionOverwriteMode` static, so every
partition it had is replaced, one that held only her rows included; dbt's insert_overwrite leaves the session
in dynamic mode, which would keep such a partition as it was."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from siyu.warehouse import checked_name
from siyu.warehouse.spark import connect, spark_dir, string_literal

SIDE_SUFFIX = "__erasure_kept"
OVERWRITE_MODE = "spark.sql.sources.partitionOverwriteMode"


def _in_list(values: Iterable[str]) -> str:
    return ", ".join(string_literal(value) for value in sorted(values)) or "null"


def _quoted(table: str) -> str:
    return ".".join(f"`{part}`" for part in checked_name(table).split("."))


def _tables(sql, schemas: Iterable[str] | None = None) -> list[str]:
    """`schema.name` of every table of every schema, or of the schemas given (views left out: they read the
    lake, erased there)."""
    found = []
    known = set(sql.frame("show databases").iloc[:, 0])
    for schema in sorted(known if schemas is None else known & set(schemas)):
        tables = sql.frame(f"show tables in `{schema}`")
        views = set(sql.frame(f"show views in `{schema}`")["viewName"])
        for name, temporary in zip(tables["tableName"], tables["isTemporary"], strict=True):
            if not temporary and name not in views:
                found.append(f"{schema}.{name}")
    return found


def _columns(sql, table: str) -> dict[str, str]:
    """Column name to Spark type (`describe`, partition columns once, its section headers left out)."""
    described = sql.frame(f"describe {_quoted(table)}")
    columns: dict[str, str] = {}
    for name, kind in zip(described["col_name"], described["data_type"], strict=True):
        if not name or name.startswith("#"):
            break  # "# Partition Information" repeats the partition columns already listed
        columns.setdefault(name, kind)
    return columns


def tables_with_column(warehouse: Path, column: str, schemas: Iterable[str] | None = None) -> list[str]:
    """`schema.name` of every table (views left out) with the column, in every schema or those given."""
    sql = connect(spark_dir(warehouse))
    try:
        return [table for table in _tables(sql, schemas) if column in _columns(sql, table)]
    finally:
        sql.close()


def _rewrite_without(sql, table: str, condition: str) -> None:
    """Overwrite `table` with its rows where `condition` is not true, through a side table. A side table left by
    an interrupted rewrite already holds the rows to keep: the rewrite finishes from it."""
    side = _quoted(table + SIDE_SUFFIX)
    if not sql.table_exists(table + SIDE_SUFFIX):
        sql.execute(f"create table {side} using parquet as select * from {_quoted(table)} where not ({condition})")
    before = sql.frame(f"set {OVERWRITE_MODE}").iloc[0, 1]
    sql.execute(f"set {OVERWRITE_MODE}=static")
    try:
        sql.execute(f"insert overwrite table {_quoted(table)} select * from {side}")
    finally:
        sql.execute(f"set {OVERWRITE_MODE}={before}")
    sql.execute(f"drop table {side}")


def delete_rows(warehouse: Path, matches: dict[str, dict[str, set[str]]]) -> dict[str, int]:
    """Delete, from each table (`schema.name`) the Spark warehouse has, the rows where any listed column holds
    one of its values (`{table: {column: values}}`), by rewriting the table without them (module docstring).
    Returns the rows deleted per table (tables with none left out, and not rewritten)."""
    removed: dict[str, int] = {}
    sql = connect(spark_dir(warehouse))
    try:
        for table, columns in matches.items():
            if not sql.table_exists(table):
                continue
            # coalesce: a row whose column is null is kept (`not (null in (...))` would drop it)
            condition = " or ".join(
                f"coalesce(`{checked_name(column)}` in ({_in_list(values)}), false)"
                for column, values in columns.items()
            )
            count = int(sql.frame(f"select count(*) as n from {_quoted(table)} where {condition}").iloc[0, 0])
            if count or sql.table_exists(table + SIDE_SUFFIX):
                _rewrite_without(sql, table, condition)
            if count:
                removed[table] = count
    finally:
        sql.close()
    return removed


def drop_tables(warehouse: Path, tables: Iterable[str]) -> list[str]:
    """Drop each table (`schema.name`) the Spark warehouse has; returns those dropped."""
    dropped = []
    sql = connect(spark_dir(warehouse))
    try:
        for table in tables:
            if sql.table_exists(table):
                sql.execute(f"drop table {_quoted(table)}")
                dropped.append(table)
    finally:
        sql.close()
    return dropped


def residue(warehouse: Path, values: set[str], schemas: Iterable[str] | None = None) -> dict[str, int]:
    """Rows of each table (of every schema, or of those given) holding any of the values in a string column
    (or an array of strings), alone or as a part of a key such as phone:+86... or member:<card>: the DuckDB
    residue's rule, in Spark SQL."""
    found: dict[str, int] = {}
    if not values:
        return found
    listed = _in_list(values)
    sql = connect(spark_dir(warehouse))
    try:
        for table in _tables(sql, schemas):
            conditions = []
            for column, kind in _columns(sql, table).items():
                if kind == "array<string>":
                    conditions.append(f"coalesce(arrays_overlap(`{column}`, array({listed})), false)")
                elif kind == "string":
                    conditions.append(
                        f"(`{column}` in ({listed}) or coalesce(arrays_overlap(split(`{column}`, ':'), "
                        f"array({listed})), false))"
                    )
            if conditions:
                where = " or ".join(conditions)
                rows = int(sql.frame(f"select count(*) as n from {_quoted(table)} where {where}").iloc[0, 0])
                if rows:
                    found[table] = rows
    finally:
        sql.close()
    return found


def compact(warehouse: Path) -> None:
    """Nothing to do on Spark: `insert overwrite` writes the table's files anew and deletes the old ones, so
    no deleted row's bytes stay behind in a file, as they do in DuckDB's free blocks."""
