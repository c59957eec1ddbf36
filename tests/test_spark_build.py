"""The whole dbt project on Apache Spark (issue 21): the session's small world, already landed and built on
DuckDB (fixture world_warehouse), is built again on local Spark (settings engine `spark`: the profile's
`spark` target, the Spark twins of the Python models, the CLV step between two dbt invocations), and every
mart, audience and report table equals the DuckDB build's row for row.

The Spark build runs in a subprocess (its own JVM and Derby metastore, as a task process would), which then
reads every table back through siyu.warehouse's Spark implementation and writes them to Parquet for the
comparison here. Columns that hold the time of the run differ by construction and are left out (RUN_TIME);
floats are compared to 9 significant digits, where two engines summing in different orders agree (the CLV
fit, from the same per-customer summary, lands on the same parameters to that precision)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark]

# The schemas analysts and activation read, and the identity map (its customer ids decide everything else).
COMPARED_SCHEMAS = ("marts", "audiences", "reports")
# When the build ran (run_started_at, the wall clock), not what it computed: equal only by chance.
RUN_TIME = {"customer_since", "assigned_at", "computed_at", "changed_at", "merged_at", "measured_at", "fit_seconds"}

SPARK_SIDE = """
import json, os, sys
from pathlib import Path
os.environ["SIYU_ENGINE"] = "spark"
from siyu.transform import dbt_build
from siyu.warehouse import open_warehouse
lake, folder, truth, out = map(Path, sys.argv[1:5])
variables = json.loads(sys.argv[5])
result = dbt_build(lake, folder, truth=truth, dbt_vars=variables, unit_tests=False)
print(json.dumps({"success": result.success, "results": result.results, "failures": result.failures}))
if result.success:
    with open_warehouse(folder) as warehouse:
        relations = warehouse.relations()
        wanted = [name for name, schema in relations.items() if schema in {schemas!r}]
        wanted.append("int_identity_map")
        for name in wanted:
            warehouse.read(name).to_parquet(out / f"{{name}}.parquet")
"""


def canonical(value) -> str:
    """One value as text two engines agree on: numbers to 9 significant digits, dates and times in ISO form."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "∅"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float) or hasattr(value, "as_tuple"):  # Decimal
        number = float(value)
        return str(int(number)) if number.is_integer() else f"{number:.9g}"
    if isinstance(value, datetime | date | pd.Timestamp):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
    if hasattr(value, "tolist"):  # arrays
        return json.dumps([canonical(item) for item in value.tolist()], ensure_ascii=False)
    if isinstance(value, list | tuple):
        return json.dumps([canonical(item) for item in value], ensure_ascii=False)
    return str(value)


def rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple[str, ...]]:
    values = frame[columns].astype(object).to_numpy().tolist()
    return sorted(tuple(canonical(value) for value in row) for row in values)


@pytest.fixture(scope="module")
def spark_tables(world_warehouse, small_world, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("spark-build")
    lake = world_warehouse.parent.parent / "lake"
    out = root / "tables"
    out.mkdir()
    counter_phones = pd.read_parquet(small_world / "store" / "stores.parquet", columns=["counter_phone"])
    phones = sorted(counter_phones["counter_phone"].dropna().unique().tolist())
    variables = json.dumps({"identity_shared_phones": phones})  # as world_warehouse built the DuckDB side
    environment = {**os.environ, "SIYU_SPARK_DIR": str(root / "spark")}
    environment.pop("SIYU_ENGINE", None)
    script = SPARK_SIDE.format(schemas=set(COMPARED_SCHEMAS))
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, (lake, root / "spark", small_world / "truth", out, variables))],
        env=environment,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    summary = [line for line in done.stdout.splitlines() if line.startswith('{"success"')]
    assert done.returncode == 0 and summary, done.stderr[-4000:]
    outcome = json.loads(summary[-1])
    assert outcome["success"], outcome["failures"]
    return out


def duckdb_tables(warehouse: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        names = connection.sql(
            "select table_schema, table_name from information_schema.tables where table_schema in "
            f"{COMPARED_SCHEMAS!r} or table_name = 'int_identity_map'"
        ).fetchall()
        return {name: connection.sql(f'select * from "{schema}"."{name}"').df() for schema, name in names}


def test_every_mart_audience_and_report_equals_the_duckdb_build(spark_tables, world_warehouse):
    duck = duckdb_tables(world_warehouse)
    spark = {path.stem: pd.read_parquet(path) for path in spark_tables.glob("*.parquet")}
    assert sorted(spark) == sorted(duck), "the two builds made different tables"
    assert {"dim_customers", "customer_rfm", "customer_clv", "kpi_triangle", "aud_vip_care"} <= set(duck)
    differences = {}
    for name, expected in sorted(duck.items()):
        actual = spark[name]
        assert sorted(actual.columns) == sorted(expected.columns), name
        columns = sorted(set(expected.columns) - RUN_TIME)
        want, got = rows(expected, columns), rows(actual, columns)
        if want != got:
            missing = sorted(set(want) - set(got))[:3]
            extra = sorted(set(got) - set(want))[:3]
            differences[name] = {
                "rows": (len(want), len(got)),
                "duckdb only": missing,
                "spark only": extra,
                "columns": columns,
            }
    assert not differences, json.dumps(differences, ensure_ascii=False, indent=1)[:6000]
    # Not empty by accident: the comparison saw the customers and a fitted CLV.
    assert len(duck["dim_customers"]) > 1000 and len(duck["customer_clv"]) > 100
