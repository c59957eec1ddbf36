"""The Python models on Spark (issue 21): dbt-spark runs Python models only on Databricks, so on Spark
siyu.transform runs them itself between two dbt invocations, the same files dbt runs on DuckDB
(dbt_project/models/segments/clv_fits.py, customer_clv.py, clv_calibration.py).

CLV stays a single-machine fit on a per-customer summary: each model's `model(dbt, session)` is called with
a small stand-in for dbt's Python-model interface whose `ref(...).df()` reads the input table from Spark into
pandas, and whose `session` runs the model's own SQL on Spark (`session.sql`) or on an in-memory DuckDB over
its frames (`session.from_df`, as the models use DuckDB's relation API on DuckDB). The result is written to
Spark as a Parquet table; the Spark twin of each model (models/segments/spark/, materialization
python_step) then claims the table for the models and tests downstream.

The yml config of each model (clv_horizon_days, the refit vars; rendered by dbt) is read from the Spark
build's manifest, where the twin carries it.
"""

from __future__ import annotations

import json
import logging
import runpy
import time
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

# In dependency order: customer_clv and clv_calibration read clv_fits.
PYTHON_MODELS = ("clv_fits", "customer_clv", "clv_calibration")
# A dbt selector of the Python models and everything downstream of them (the second dbt invocation).
DOWNSTREAM = " ".join(f"{name}+" for name in PYTHON_MODELS)


class _Frame:
    """What `dbt.ref(...)` and `session.sql(...)` return: a query run on Spark when its frame is asked for."""

    def __init__(self, spark, query: str):
        self.spark, self.query = spark, query

    def df(self) -> pd.DataFrame:
        return self.spark.frame(self.query)


class _Session:
    def __init__(self, spark, absent: set[str]):
        import duckdb

        self.spark, self.absent = spark, absent
        self.local = duckdb.connect()

    def sql(self, query: str) -> _Frame:
        # A model reading its own table before the first build expects an error (clv_calibration catches it):
        # raised here, so Spark does not log a stack trace for the missing table.
        if any(f"from {relation}" in query for relation in self.absent):
            raise LookupError(f"no table yet: {query}")
        return _Frame(self.spark, query)

    def from_df(self, frame: pd.DataFrame):
        return self.local.from_df(frame)


class _Config:
    def __init__(self, values: dict):
        self.values = values

    def __call__(self, **kwargs) -> None:
        pass

    def get(self, name: str, default=None):
        return self.values.get(name, default)


class _Dbt:
    def __init__(self, spark, node: dict, relations: dict[str, str], this: str, is_incremental: bool):
        self.spark, self.relations = spark, relations
        self.config = _Config(node.get("config", {}))
        self.this, self.is_incremental = this, is_incremental

    def ref(self, name: str) -> _Frame:
        return _Frame(self.spark, f"select * from {self.relations[name]}")


def _manifest_nodes(manifest: Path) -> tuple[dict[str, dict], dict[str, str], dict[str, str]]:
    """The enabled models by name, every model's relation (schema.name), and the materialization each
    Python model has on DuckDB (its disabled entry: on Spark its twin is a python_step)."""
    document = json.loads(Path(manifest).read_text(encoding="utf-8"))
    nodes = {node["name"]: node for node in document["nodes"].values() if node["resource_type"] == "model"}
    python = {
        node["name"]: node["config"].get("materialized")
        for versions in document.get("disabled", {}).values()
        for node in versions
        if node.get("resource_type") == "model" and node.get("language") == "python"
    }
    return nodes, {name: f"{node['schema']}.{node['alias'] or name}" for name, node in nodes.items()}, python


def _model_file(project_dir: Path, name: str) -> Path:
    found = sorted(Path(project_dir, "models").rglob(f"{name}.py"))
    if len(found) != 1:
        raise FileNotFoundError(f"the Python model {name}.py: found {len(found)} files under {project_dir}/models")
    return found[0]


def run_python_models(spark, project_dir: Path, manifest: Path, full_refresh: bool = False) -> dict[str, int]:
    """Run the Python models on Spark (`spark`: a siyu.warehouse.spark SparkSQL, local or Thrift) in order;
    returns the rows each wrote (an append: the rows added)."""
    nodes, relations, materialized = _manifest_nodes(manifest)
    written: dict[str, int] = {}
    for name in PYTHON_MODELS:
        node = nodes[name]
        this = relations[name]
        exists = spark.table_exists(this)
        is_incremental = materialized.get(name) == "incremental" and exists and not full_refresh
        started = time.perf_counter()
        module = runpy.run_path(str(_model_file(project_dir, name)))
        session = _Session(spark, set() if exists else {this})
        result = module["model"](_Dbt(spark, node, relations, this, is_incremental), session)
        frame = result if isinstance(result, pd.DataFrame) else result.df()
        if is_incremental:
            if len(frame):
                spark.write(this, frame, mode="append")
        else:
            spark.write(this, frame, mode="overwrite")
        written[name] = len(frame)
        log.info("spark step %s: %d rows in %.1fs", name, len(frame), time.perf_counter() - started)
    return written
