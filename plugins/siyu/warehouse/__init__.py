"""The one way Python reads the warehouse (issues 20 and 21): whole models, by name.

A consumer outside dbt (the report, the identity report, activation, the demo summary, the transform
DAG's identity check) opens the warehouse with `open_warehouse` and calls `read(model)`, which runs
`select * from <schema>.<model>` and nothing else: the schema is found from the model's name in the
warehouse's catalog. Any filtering, joining or aggregating a consumer needs is a dbt model (the `rpt_`
models in dbt_project/models/reports) or a trivial pandas step on the frame it reads. Each consumer
declares the models it reads in a module-level tuple, and the dbt exposure of that consumer lists the same
models (tests/test_python_sql.py checks both).

`Warehouse` is the interface; `siyu.warehouse.duckdb.DuckDBWarehouse` is the DuckDB implementation and
`siyu.warehouse.spark.SparkWarehouse` the Spark one (issue 21); `open_warehouse` picks by the settings'
engine. This package and `siyu.warehouse.maintenance` (erasure and compaction) are the only places in
plugins/siyu holding SQL.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

__all__ = [
    "MissingModel",
    "UnreadableModel",
    "Warehouse",
    "exists",
    "identity_quality",
    "open_warehouse",
    "read_models",
]

log = logging.getLogger(__name__)

# A model name as dbt names models: lower-case letters, digits and underscores. Anything else is refused
# before it reaches SQL. `schema.name` is accepted for tables outside dbt's models (activation.sends).
MODEL_NAME = re.compile(r"^(?:[a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$")


class MissingModel(LookupError):
    """The warehouse holds no model of that name (not built yet, or not in this brand's sources)."""


class UnreadableModel(RuntimeError):
    """The model exists but cannot be read (a staging view over lake files that are not there)."""


def checked_name(model: str) -> str:
    if not MODEL_NAME.match(model):
        raise ValueError(f"not a model name: {model!r}")
    return model


@runtime_checkable
class Warehouse(Protocol):
    """Reads whole models and writes the few tables siyu keeps outside dbt (activation.sends)."""

    def read(self, model: str) -> pd.DataFrame:
        """Every row and column of one model (`select * from <schema>.<model>`). Raises MissingModel
        when the warehouse has no such model, UnreadableModel when it cannot be read."""
        ...

    def has(self, model: str) -> bool:
        """Whether the warehouse holds the model."""
        ...

    def relations(self) -> dict[str, str]:
        """Every model the warehouse holds, name → schema (dbt's temporary relations left out; a name
        found in two schemas maps to "", and reading it by bare name raises UnreadableModel)."""
        ...

    def replace_partition(self, table: str, frame: pd.DataFrame, key_column: str, key_value: object) -> int:
        """Replace the rows of `table` (`schema.name`) whose `key_column` equals `key_value` with `frame`
        (same columns), in one transaction, creating the table from the frame's columns if it is missing.
        Returns the number of rows the partition holds afterwards."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Warehouse: ...

    def __exit__(self, *exc: object) -> None: ...


def open_warehouse(path: Path | str | None = None, read_only: bool = True) -> Warehouse:
    """The warehouse at `path` (default SIYU_WAREHOUSE, else data/warehouse/siyu.duckdb), on the engine the
    settings name (siyu.config, SIYU_ENGINE): DuckDB's file, or Spark's tables (siyu.warehouse.spark; the
    Spark folder is SIYU_SPARK_DIR, else spark/ beside the DuckDB path)."""
    from siyu.config import load_settings

    if load_settings().engine == "spark":
        from siyu.warehouse.spark import SparkWarehouse, spark_dir

        return SparkWarehouse(spark_dir(path), read_only=read_only)
    from siyu.warehouse.duckdb import DuckDBWarehouse

    if path is None:
        path = os.environ.get("SIYU_WAREHOUSE", "data/warehouse/siyu.duckdb")
    return DuckDBWarehouse(Path(path), read_only=read_only)


def exists(path: Path | str | None = None) -> bool:
    """Whether a warehouse has been built at `path` on the settings' engine: DuckDB's file, Spark's
    metastore in the Spark folder (siyu.warehouse.spark.spark_dir), or siyu's marts on a Thrift server."""
    from siyu.config import load_settings

    if load_settings().engine == "spark":
        from siyu.warehouse.spark import connect, method, spark_dir

        if method() == "session":
            return (spark_dir(path) / "metastore_db").exists()
        sql = connect(spark_dir(path))  # a Thrift server: built when it holds siyu's marts
        try:
            return sql.table_exists("marts.dim_customers")
        finally:
            sql.close()
    if path is None:
        path = os.environ.get("SIYU_WAREHOUSE", "data/warehouse/siyu.duckdb")
    return Path(path).exists()


def identity_quality(warehouse: Warehouse) -> dict:
    """The one row of marts.identity_quality as a dict: the one way Python reads identity quality (the
    identity report, the transform DAG's check and the demo summary all call this)."""
    return warehouse.read("identity_quality").iloc[0].to_dict()


def read_models(warehouse: Warehouse, models: Iterable[str]) -> dict[str, pd.DataFrame | None]:
    """Each of `models` whole, by name; None for a model the warehouse lacks (not built yet, or not in the
    brand's sources) or cannot read (a staging view over lake files that are not there), so a consumer
    can say what is not available instead of failing. A consumer passes its declared tuple of models (the
    one its dbt exposure lists) and indexes the result, so it cannot read a model it does not declare."""
    frames: dict[str, pd.DataFrame | None] = {}
    for model in models:
        try:
            frames[model] = warehouse.read(model)
        except MissingModel:
            frames[model] = None
        except UnreadableModel as error:
            log.warning("warehouse: %s cannot be read (%s)", model, error)
            frames[model] = None
    return frames
