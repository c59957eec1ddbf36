"""siyu.warehouse.spark_maintenance, erasure's engine side on Spark, on a few small tables of local Spark
(tests/spark_erasure_scenario.py; one JVM for the module, in a subprocess: a Derby metastore per process): the
delete rewrites a table without her rows and keeps everyone else's (a null id included), a partition holding
only her rows goes although the session is in dynamic partition-overwrite mode as dbt leaves it, no side table
is left, and the residue check finds a value alone, as a part of a key (phone:+86...) and in an array of
strings, as DuckDB's does. tests/test_spark_build.py runs the same scenario through a Thrift server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from spark_erasure_scenario import EXPECTED

pytestmark = [pytest.mark.spark]

SCRIPT = """
import json, os, sys
from pathlib import Path
os.environ["SIYU_ENGINE"] = "spark"
sys.path.insert(0, sys.argv[2])
from spark_erasure_scenario import run
print("RESULT " + json.dumps(run(Path(sys.argv[1]))))
"""


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("spark-maintenance") / "spark"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder), str(Path(__file__).parent)],
        env={**os.environ, "SIYU_SPARK_DIR": str(folder), "SIYU_SPARK_METHOD": "session"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test__residue__finds_a_value_alone_in_a_key_and_in_an_array(spark_run):
    # GIVEN her phone in an identity map key and in a message's phone array, her id in the map and daily segments
    # WHEN the warehouse is searched for her values
    # THEN every table holding one is named with its rows (a view, which reads a table, is not), and nothing else
    assert spark_run["before"] == EXPECTED["before"]
    assert spark_run["phone_only"] == EXPECTED["phone_only"]
    assert spark_run["nobody"] == {}


def test__tables_with_column__names_the_tables_not_the_views(spark_run):
    assert spark_run["with_customer_id"] == EXPECTED["with_customer_id"]


def test__delete_rows__rewrites_a_table_without_her_rows_and_keeps_everyone_elses(spark_run):
    # WHEN her id (and her phone's key) is deleted from the identity map and the daily segments
    # THEN her rows, and the row naming her as a previous id, are gone; rows with a null id stay; the residue
    # check finds her values only where no delete was asked
    assert spark_run["removed"] == EXPECTED["removed"]
    assert spark_run["identity_map"] == EXPECTED["identity_map"]
    assert spark_run["after"] == EXPECTED["after"]


def test__delete_rows__drops_a_partition_that_held_only_her_rows(spark_run):
    # GIVEN a session in dynamic partition-overwrite mode (as dbt's insert_overwrite leaves it)
    # THEN the day that held only her row is gone, the other days hold the others' rows, the mode is restored
    assert spark_run["segments"] == EXPECTED["segments"]
    assert spark_run["partitions"] == EXPECTED["partitions"]
    assert spark_run["mode"].lower() == "dynamic"


def test__delete_rows__leaves_no_side_table(spark_run):
    assert spark_run["tables"] == EXPECTED["tables"]
