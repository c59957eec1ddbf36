"""The whole dbt project on Apache Spark (issue 21), through a Spark Thrift Server as on a cluster: the
session's small world, already landed and built on DuckDB (fixture world_warehouse), is built again on Spark
(settings engine `spark`, SIYU_SPARK_METHOD `thrift`: the profile's `spark_thrift` target, the pseudonym pads
set on each Thrift session, the Spark twins of the Python models, the CLV step reading and writing through
the server), with the dbt unit tests as `siyu build` runs them (their fixtures are portable), and every mart,
audience and report table equals the DuckDB build's row for row. The local-session method builds the whole
project in tests/test_spark_incremental.py.

The Thrift server is pyspark's own (HiveThriftServer2, local[2], its Derby metastore in the test's folder),
started here the way docker-compose's `spark-thrift` service starts it. The build runs in a subprocess (as a
task process would), which then reads every table back through siyu.warehouse's Spark implementation over
Thrift and writes them to Parquet for the comparison here. Columns that hold the time of the run differ by
construction and are left out (RUN_TIME); fractional numbers agree to a relative 1e-6: two engines sum in
different orders, and the CLV fit from the same per-customer summary lands on the same parameters to about
1e-8."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
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
variables, schemas = json.loads(sys.argv[5]), json.loads(sys.argv[6])
result = dbt_build(lake, folder, truth=truth, dbt_vars=variables)  # with the unit tests, as siyu build
print(json.dumps({"success": result.success, "results": result.results, "failures": result.failures}))
if result.success:
    with open_warehouse(folder) as warehouse:
        relations = warehouse.relations()
        wanted = [name for name, schema in relations.items() if schema in schemas]
        wanted.append("int_identity_map")
        for name in wanted:
            warehouse.read(name).to_parquet(out / f"{name}.parquet")
"""


def canonical(value) -> str:
    """One value as text two engines agree on: dates and times in ISO form, integral numbers as integers,
    missing values (None, NaN, NaT, pd.NA) as one mark."""
    if isinstance(value, list | tuple) or hasattr(value, "tolist"):  # arrays
        items = value.tolist() if hasattr(value, "tolist") else value
        return json.dumps([canonical(item) for item in items], ensure_ascii=False)
    if pd.isna(value):
        return "∅"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float) or hasattr(value, "as_tuple"):  # Decimal
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, datetime | date | pd.Timestamp):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
    return str(value)


def _fractional(column: pd.Series) -> bool:
    """Floating-point or decimal values (compared within a tolerance), not integers a nullable column holds."""
    if pd.api.types.is_float_dtype(column):
        values = column.dropna()
        return not (values == values.round()).all()
    return column.dtype == object and any(hasattr(value, "as_tuple") for value in column.dropna().head(100))


def _sorted_rows(frame: pd.DataFrame, exact: list[str], fractional: list[str]):
    keys = [tuple(canonical(value) for value in row) for row in frame[exact].astype(object).itertuples(index=False)]
    numbers = frame[fractional].apply(lambda column: pd.to_numeric(column, errors="coerce")).astype(float).to_numpy()
    order = sorted(range(len(frame)), key=lambda i: (keys[i], tuple(f"{x:.4g}" for x in numbers[i])))
    return [keys[i] for i in order], numbers[order]


def rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple[str, ...]]:
    """The rows as sorted tuples of canonical text (exact comparison)."""
    return sorted(
        tuple(canonical(value) for value in row) for row in frame[columns].astype(object).itertuples(index=False)
    )


def difference(expected: pd.DataFrame, actual: pd.DataFrame, columns: list[str]) -> str | None:
    """None when the two tables hold the same rows: every value equal, except fractional numbers, which agree
    to a relative 1e-6 (two engines sum in different orders; the CLV fit from their summaries agrees to ~1e-8);
    else the first difference."""
    if len(expected) != len(actual):
        return f"{len(expected)} rows vs {len(actual)}"
    fractional = [c for c in columns if _fractional(expected[c]) or _fractional(actual[c])]
    exact = [c for c in columns if c not in fractional]
    want_keys, want_numbers = _sorted_rows(expected, exact, fractional)
    got_keys, got_numbers = _sorted_rows(actual, exact, fractional)
    for want, got in zip(want_keys, got_keys, strict=True):
        if want != got:
            return f"exact columns {exact}: {want} vs {got}"
    close = np.isclose(want_numbers, got_numbers, rtol=1e-6, atol=1e-9, equal_nan=True)
    if not close.all():
        row, column = np.argwhere(~close)[0]
        return f"{fractional[column]}: {want_numbers[row, column]!r} vs {got_numbers[row, column]!r} ({want_keys[row]})"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def thrift_server(tmp_path_factory):
    """pyspark's Spark Thrift Server on loopback, as docker-compose's spark-thrift service runs it; yields
    its port."""
    from siyu.warehouse.spark import LOG4J

    folder = tmp_path_factory.mktemp("thrift")
    port = _free_port()
    command = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        "local[2]",
        "--class",
        "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--conf",
        f"spark.sql.warehouse.dir={folder}/tables",
        "--conf",
        f"spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={folder}/metastore_db;create=true",
        "--conf",
        f"spark.driver.extraJavaOptions=-Dderby.system.home={folder} -Dlog4j2.configurationFile={LOG4J}",
        "--conf",
        "spark.hadoop.hive.server2.thrift.bind.host=127.0.0.1",
        "--conf",
        f"spark.hadoop.hive.server2.thrift.port={port}",
        "--conf",
        "spark.sql.hive.thriftServer.async=false",
        "--conf",
        "spark.sql.shuffle.partitions=4",
        "--conf",
        "spark.ui.enabled=false",
        "spark-internal",
    ]
    log = (folder / "server.log").open("w")
    import pyspark

    # pyspark's scripts find Spark through the first python3 on PATH, which may not be this environment's.
    environment = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent)}
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True)
    deadline = time.monotonic() + 300
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, (folder / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Thrift server did not listen within 300 s"
            time.sleep(2)
    yield port
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def spark_tables(world_warehouse, small_world, thrift_server, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("spark-build")
    lake = world_warehouse.parent.parent / "lake"
    out = root / "tables"
    out.mkdir()
    counter_phones = pd.read_parquet(small_world / "store" / "stores.parquet", columns=["counter_phone"])
    phones = sorted(counter_phones["counter_phone"].dropna().unique().tolist())
    variables = json.dumps({"identity_shared_phones": phones})  # as world_warehouse built the DuckDB side
    environment = {
        **os.environ,
        "SIYU_SPARK_DIR": str(root / "spark"),  # dbt's target folder; the tables are the server's
        "SIYU_SPARK_METHOD": "thrift",
        "SIYU_SPARK_THRIFT_HOST": "127.0.0.1",
        "SIYU_SPARK_THRIFT_PORT": str(thrift_server),
    }
    environment.pop("SIYU_ENGINE", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SPARK_SIDE,
            *map(str, (lake, root / "spark", small_world / "truth", out, variables)),
            json.dumps(COMPARED_SCHEMAS),
        ],
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
        found = difference(expected, actual, sorted(set(expected.columns) - RUN_TIME))
        if found:
            differences[name] = found[:500]
    assert not differences, f"{len(differences)} tables differ: " + json.dumps(
        differences, ensure_ascii=False, indent=1
    )
    # Not empty by accident: the comparison saw the customers, hashed identifiers and a fitted CLV.
    assert len(duck["dim_customers"]) > 1000 and len(duck["customer_clv"]) > 100
    assert duck["customer_identifiers"]["id_value_hash"].notna().all()


def test_a_frame_written_through_thrift_reads_back_the_same(thrift_server, monkeypatch):
    """What the CLV step writes through a Thrift server (INSERT ... VALUES, batched) comes back value for
    value: quotes, backslashes and Chinese in text, missing values of every type, NaN, tiny and huge numbers,
    timestamps; and more rows than one statement carries."""
    from siyu.warehouse import spark

    monkeypatch.setenv("SIYU_SPARK_METHOD", "thrift")
    monkeypatch.setenv("SIYU_SPARK_THRIFT_HOST", "127.0.0.1")
    monkeypatch.setenv("SIYU_SPARK_THRIFT_PORT", str(thrift_server))
    monkeypatch.setattr(spark, "THRIFT_INSERT_ROWS", 2)
    frame = pd.DataFrame(
        {
            "name": ["O'Brien \\ 王小明", None, "line\nbreak", "", "%s ${x}"],
            "count": pd.array([1, None, -(2**62), 0, 7], dtype="Int64"),
            "value": [1e-05, None, float("nan"), 1.0 / 3.0, 1.5e300],
            "flag": pd.array([True, None, False, True, False], dtype="boolean"),
            "at": pd.to_datetime(
                ["2025-01-02 03:04:05.123456", None, "1999-12-31", "2025-06-01", "2025-06-01 12:00"], format="ISO8601"
            ),
        }
    )
    sql = spark.connect("unused")
    try:
        sql.write("siyu_probe.roundtrip", frame)
        sql.write("siyu_probe.roundtrip", frame.iloc[:1], mode="append")
        back = sql.frame("select * from siyu_probe.roundtrip")
        assert sql.table_exists("siyu_probe.roundtrip") and not sql.table_exists("siyu_probe.nothing")
        assert not sql.table_exists("no_such_schema.roundtrip")
    finally:
        sql.close()
    expected = pd.concat([frame, frame.iloc[:1]], ignore_index=True).astype(object)
    assert difference(expected, back, list(frame.columns)) is None
    assert sorted(back["name"].dropna()) == sorted(
        ["O'Brien \\ 王小明", "O'Brien \\ 王小明", "line\nbreak", "", "%s ${x}"]
    )


def test_erasure_rewrites_tables_through_thrift(thrift_server, monkeypatch):
    """Erasure's engine side (siyu.warehouse.spark_maintenance) through the Thrift server: the scenario
    tests/test_spark_maintenance.py runs on a local session, in a schema of its own, gives the same."""
    from spark_erasure_scenario import EXPECTED, run

    monkeypatch.setenv("SIYU_SPARK_METHOD", "thrift")
    monkeypatch.setenv("SIYU_SPARK_THRIFT_HOST", "127.0.0.1")
    monkeypatch.setenv("SIYU_SPARK_THRIFT_PORT", str(thrift_server))
    result = run(Path("unused"))
    assert result.pop("mode").lower() == "dynamic"
    assert result == EXPECTED


def test_siyu_sql_over_thrift_answers_and_an_unreachable_server_is_one_line(thrift_server, spark_tables):
    """`siyu sql` with SIYU_SPARK_METHOD=thrift queries the server's tables; a wrong port is told in one line
    naming the address and the settings, with no traceback."""
    environment = {
        **os.environ,
        "SIYU_ENGINE": "spark",
        "SIYU_SPARK_METHOD": "thrift",
        "SIYU_SPARK_THRIFT_HOST": "127.0.0.1",
        "SIYU_SPARK_THRIFT_PORT": str(thrift_server),
    }
    siyu = str(Path(sys.executable).parent / "siyu")
    answer = subprocess.run(
        [siyu, "sql", "--csv", "select count(*) as n from marts.dim_customers"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert int(answer.stdout.splitlines()[1]) > 1000
    environment["SIYU_SPARK_THRIFT_PORT"] = str(_free_port())
    refused = subprocess.run([siyu, "sql", "select 1"], env=environment, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "Traceback" not in refused.stderr
    assert "cannot reach the Spark Thrift server at 127.0.0.1:" in refused.stderr
