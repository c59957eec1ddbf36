"""A few small Spark tables holding one customer's rows, erased by siyu.warehouse.spark_maintenance: the
scenario tests/test_spark_maintenance.py runs on a local session (in a subprocess) and tests/test_spark_build.py
on its Thrift server. Its tables are in a schema of their own, so a server's other tables are not touched."""

from __future__ import annotations

from pathlib import Path

SCHEMA = "erasure_probe"
HER, OTHER = "C00000000000000aa", "C00000000000000bb"
HER_PHONE = "+8613912345678"
# What the scenario finds, deletes and leaves (see run()).
EXPECTED = {
    # her phone in an identity map key and in a message's phone array, her id in the map and daily segments
    "before": {f"{SCHEMA}.int_identity_map": 2, f"{SCHEMA}.customer_segments_daily": 2, f"{SCHEMA}.messages": 1},
    "phone_only": {f"{SCHEMA}.int_identity_map": 1, f"{SCHEMA}.messages": 1},
    "nobody": {},
    "with_customer_id": [f"{SCHEMA}.customer_segments_daily", f"{SCHEMA}.int_identity_map"],
    # her row and the row naming her as a previous id go; rows with a null id stay
    "removed": {f"{SCHEMA}.int_identity_map": 2, f"{SCHEMA}.customer_segments_daily": 2},
    "identity_map": [["member:M1", OTHER], ["member:M2", None]],
    # only the message's phone array is left (no delete asked there: a rebuild would redo it)
    "after": {f"{SCHEMA}.messages": 1},
    # the day that held only her row is gone with its partition
    "segments": [[OTHER, "2025-12-01"], [OTHER, "2025-12-03"]],
    "partitions": ["snapshot_date=2025-12-01", "snapshot_date=2025-12-03"],
    # no side table left; the view is still there
    "tables": ["a_view", "customer_segments_daily", "int_identity_map", "messages", "untouched"],
}


def run(folder: Path, dynamic: bool = True) -> dict:
    """Make the tables, search, delete and search again; returns what each step gave (EXPECTED's keys, and the
    session's partitionOverwriteMode afterwards as `mode`). With `dynamic`, the session is first set to
    dynamic partition overwrite, as dbt-spark's insert_overwrite leaves it."""
    from siyu.warehouse.spark import connect
    from siyu.warehouse.spark_maintenance import delete_rows, residue, tables_with_column

    schemas = [SCHEMA]
    sql = connect(folder)
    try:
        sql.execute(f"drop database if exists {SCHEMA} cascade")
        sql.execute(f"create database {SCHEMA}")
        sql.execute(
            f"create table {SCHEMA}.int_identity_map using parquet as select * from values "
            f"('phone:{HER_PHONE}', '{HER}', cast(null as string)), ('phone:+8613700000000', '{OTHER}', '{HER}'), "
            f"('member:M1', '{OTHER}', cast(null as string)), ('member:M2', cast(null as string), "
            "cast(null as string)) as t(node_key, customer_id, previous_customer_id)"
        )
        sql.execute(
            f"create table {SCHEMA}.customer_segments_daily (customer_id string, rfm_segment string, "
            "snapshot_date date) using parquet partitioned by (snapshot_date)"
        )
        sql.execute(
            f"insert into {SCHEMA}.customer_segments_daily values "
            f"('{HER}', 'new', date'2025-12-01'), ('{OTHER}', 'new', date'2025-12-01'), "
            f"('{HER}', 'loyal', date'2025-12-02'), ('{OTHER}', 'loyal', date'2025-12-03')"
        )
        sql.execute(
            f"create table {SCHEMA}.messages using parquet as select * from values "
            f"('m1', array('{HER_PHONE}', 'x')), ('m2', array('y', cast(null as string))) as t(message_id, phones)"
        )
        sql.execute(f"create table {SCHEMA}.untouched using parquet as select 1 as n")
        sql.execute(f"create view {SCHEMA}.a_view as select * from {SCHEMA}.messages")
        if dynamic:
            sql.execute("set spark.sql.sources.partitionOverwriteMode=dynamic")
        out = {
            "before": residue(folder, {HER_PHONE, HER}, schemas),
            "phone_only": residue(folder, {HER_PHONE}, schemas),
            "nobody": residue(folder, {"nobody"}, schemas),
            "with_customer_id": tables_with_column(folder, "customer_id", schemas),
        }
        out["removed"] = delete_rows(
            folder,
            {
                f"{SCHEMA}.int_identity_map": {
                    "customer_id": {HER},
                    "previous_customer_id": {HER},
                    "node_key": {f"phone:{HER_PHONE}"},
                },
                f"{SCHEMA}.customer_segments_daily": {"customer_id": {HER}},
                f"{SCHEMA}.not_built": {"customer_id": {HER}},
            },
        )
        out["after"] = residue(folder, {HER, HER_PHONE}, schemas)
        frame = sql.frame(f"select node_key, customer_id from {SCHEMA}.int_identity_map order by node_key")
        out["identity_map"] = frame.astype(object).where(frame.notna(), None).values.tolist()
        frame = sql.frame(
            f"select customer_id, cast(snapshot_date as string) as day from {SCHEMA}.customer_segments_daily order by 2"
        )
        out["segments"] = frame.values.tolist()
        out["partitions"] = sorted(sql.frame(f"show partitions {SCHEMA}.customer_segments_daily").iloc[:, 0])
        out["tables"] = sorted(sql.frame(f"show tables in {SCHEMA}")["tableName"])
        out["mode"] = str(sql.frame("set spark.sql.sources.partitionOverwriteMode").iloc[0, 1])
        sql.execute(f"drop database {SCHEMA} cascade")
    finally:
        sql.close()
    return out
