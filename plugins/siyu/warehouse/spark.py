"""The Spark implementation of `siyu.warehouse.Warehouse` (issue 21): the tables a dbt build on Spark made.

Local Spark (`method: session`, the profile's `spark` target) keeps its tables as Parquet under
`<spark_dir>/tables` with a Derby metastore in `<spark_dir>/metastore_db`; `session(spark_dir)` starts (or
joins) a Spark session configured as profiles.yml configures dbt's, so Python in the process that ran dbt
reads and writes the same tables. Derby admits one process at a time: a reader in another process while a
build runs is refused, in one line (session(); a cluster's Hive metastore service has no such limit;
docs/spark.md).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from siyu.warehouse import MissingModel, UnreadableModel, checked_name

log = logging.getLogger(__name__)

# Spark's console log: errors only, short stack traces, the metastore's libraries silent (a lock is told
# in siyu's own words, session()).
LOG4J = Path(__file__).with_name("log4j2.properties")
# The schemas dbt writes (dbt_project.yml, macros/generate_schema_name.sql) and the one siyu keeps beside them.
SCHEMAS = ("staging", "intermediate", "marts", "audiences", "reports", "reference", "activation")


def spark_dir(warehouse: Path | str | None = None) -> Path:
    """The Spark folder: SIYU_SPARK_DIR, else `spark/` beside the DuckDB warehouse path (SIYU_WAREHOUSE's
    folder), so one data folder holds either engine's warehouse."""
    if os.environ.get("SIYU_SPARK_DIR"):
        return Path(os.environ["SIYU_SPARK_DIR"]).resolve()
    if warehouse is None:
        warehouse = os.environ.get("SIYU_WAREHOUSE", "data/warehouse/siyu.duckdb")
    warehouse = Path(warehouse)
    return (warehouse if warehouse.suffix != ".duckdb" else warehouse.parent / "spark").resolve()


def conf(folder: Path) -> dict[str, str]:
    """The settings of the profile's `spark` target (dbt_project/profiles.yml), for a session started here."""
    folder = Path(folder).resolve()
    return {
        "spark.master": os.environ.get("SIYU_SPARK_MASTER", "local[2]"),
        "spark.driver.memory": os.environ.get("SIYU_SPARK_DRIVER_MEMORY", "4g"),
        "spark.sql.warehouse.dir": f"{folder}/tables",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder}/metastore_db;create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={folder} -Dlog4j2.configurationFile={LOG4J}",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.mergeSchema": "true",
        "spark.sql.shuffle.partitions": os.environ.get("SIYU_SPARK_SHUFFLE_PARTITIONS", "4"),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": os.environ.get("SIYU_SPARK_LOG_LEVEL", "ERROR"),
        "spark.sql.ansi.enabled": "false",
        # Partition filters (customer_segments_daily by snapshot_date) pruned by Spark, not by the Derby
        # metastore, which fails on a filter over a date partition.
        "spark.sql.hive.metastorePartitionPruning": "false",
    }


class SparkUnavailable(RuntimeError):
    """Local Spark cannot start or reach its metastore; the message names the cause and what to do."""


def session(folder: Path):
    """The process's Spark session on `folder`: the one a dbt build in this process started, else a new one.
    Raises SparkUnavailable, in one line, when Java is missing or another process holds the metastore."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("siyu").enableHiveSupport()
    for key, value in conf(folder).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as error:
        if "JAVA_GATEWAY_EXITED" in str(error) or "Java gateway" in str(error):
            raise SparkUnavailable(
                "Spark could not start: Java 17 is needed (apt-get install openjdk-17-jre-headless, or set "
                "JAVA_HOME; docs/spark.md)"
            ) from None
        raise
    spark.sparkContext.setLogLevel("ERROR")
    try:  # the metastore is opened lazily: ask for it now, where its lock can be told apart
        spark.catalog.listDatabases()
    except Exception as error:
        if "XSDB6" in str(error) or "SessionHiveMetaStoreClient" in str(error):
            raise SparkUnavailable(
                f"another process holds the Spark metastore in {Path(folder) / 'metastore_db'} (a build "
                "running?): local Spark's Derby metastore admits one process at a time; try again when it ends"
            ) from None
        raise
    return spark


def set_pseudonym_pads(spark, lake: Path) -> None:
    """The pseudonym key's HMAC pads as runtime settings of the session (spark.siyu.pseudonym_ipad/_opad, hex),
    which macro hash_identifier reads through Spark's variable substitution: never in compiled SQL or logs."""
    from siyu.pseudonyms import pads, pseudonym_key

    inner, outer = pads(pseudonym_key(Path(lake)))
    spark.conf.set("spark.siyu.pseudonym_ipad", inner.hex())
    spark.conf.set("spark.siyu.pseudonym_opad", outer.hex())


def to_pandas(frame) -> pd.DataFrame:
    """A Spark DataFrame as pandas, timestamps as Spark shows them in the session's zone (UTC: siyu's
    timestamps are local wall-clock times stored without zone, macros/portable.sql)."""
    return frame.toPandas()


def spark_type(dtype) -> str:
    """The Spark SQL type of a pandas column, for frames written to Spark (empty ones included)."""
    kind = str(dtype)
    if kind.startswith("datetime64"):
        return "timestamp"
    if kind in ("int64", "Int64"):
        return "bigint"
    if kind in ("int32", "Int32"):
        return "int"
    if kind.startswith("float"):
        return "double"
    if kind in ("bool", "boolean"):
        return "boolean"
    return "string"


def ensure_schema(spark, schema: str) -> None:
    """The schema (Spark database) exists."""
    spark.sql(f"create database if not exists {checked_name(schema)}")


def write_table(spark, table: str, frame: pd.DataFrame, mode: str = "overwrite") -> None:
    """`frame` as the Parquet table `schema.name` (mode overwrite or append), with explicit column types."""
    from pyspark.sql.types import _parse_datatype_string

    ensure_schema(spark, table.split(".")[0])
    ddl = ", ".join(f"`{name}` {spark_type(dtype)}" for name, dtype in frame.dtypes.items())
    rows = [[_plain(value) for value in row] for row in frame.astype(object).itertuples(index=False)]
    data = spark.createDataFrame(rows, schema=_parse_datatype_string(ddl))
    data.write.mode(mode).format("parquet").saveAsTable(table)


def _plain(value):
    """A pandas/numpy value as the Python value Spark's row conversion accepts (missing values as None)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


class SparkWarehouse:
    """The tables of a Spark build, read through the process's Spark session."""

    def __init__(self, folder: Path | str, read_only: bool = True) -> None:
        self.folder = Path(folder)
        self.read_only = read_only
        self.spark = session(self.folder)
        self.reads: list[str] = []
        self._relations: dict[str, str] | None = None

    def __enter__(self) -> SparkWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """The session stays up for the process (Spark starts in seconds, not milliseconds)."""

    def relations(self) -> dict[str, str]:
        if self._relations is None:
            found: dict[str, str] = {}
            schemas = {row[0] for row in self.spark.sql("show databases").collect()}
            for schema in sorted(schemas & set(SCHEMAS)):
                for row in self.spark.sql(f"show tables in {schema}").collect():
                    name = row["tableName"]
                    if row["isTemporary"] or "__dbt_tmp" in name or name.endswith("__previous"):
                        continue
                    found[name] = "" if name in found else schema
            self._relations = found
        return self._relations

    def _relation(self, model: str) -> str:
        checked_name(model)
        if "." in model:
            if not self.has(model):
                raise MissingModel(model)
            return model
        schema = self.relations().get(model)
        if schema is None:
            raise MissingModel(model)
        if not schema:
            raise UnreadableModel(f"{model} is in more than one schema; read it as schema.{model}")
        return f"{schema}.{model}"

    def has(self, model: str) -> bool:
        checked_name(model)
        if "." in model:
            schema, name = model.split(".")
            return bool(self.spark.catalog.tableExists(f"{schema}.{name}"))
        return model in self.relations()

    def read(self, model: str) -> pd.DataFrame:
        from pyspark.errors import AnalysisException

        relation = self._relation(model)
        self.reads.append(model)
        try:
            return to_pandas(self.spark.sql(f"select * from {relation}"))
        except AnalysisException as error:
            raise UnreadableModel(f"{model}: {error}") from error

    def replace_partition(self, table: str, frame: pd.DataFrame, key_column: str, key_value: object) -> int:
        checked_name(table)
        checked_name(key_column)
        if "." not in table:
            raise ValueError(f"replace_partition needs schema.table, got {table!r}")
        kept = (
            to_pandas(self.spark.sql(f"select * from {table}").where(f"`{key_column}` <> '{key_value}'"))
            if self.has(table)
            else frame.iloc[0:0]
        )
        merged = pd.concat([kept[list(frame.columns)], frame], ignore_index=True) if len(kept) else frame
        write_table(self.spark, table, merged)
        self._relations = None
        return int((merged[key_column].astype(str) == str(key_value)).sum())
