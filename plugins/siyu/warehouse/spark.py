"""The Spark implementation of `siyu.warehouse.Warehouse` (issue 21): the tables a dbt build on Spark made.

Two ways to Spark, chosen by SIYU_SPARK_METHOD (docs/spark.md), as the profile's two Spark targets:

- `session` (default; target `spark`): local Spark inside the process. Its tables are Parquet under
  `<spark_dir>/tables` with a Derby metastore in `<spark_dir>/metastore_db`; `session(spark_dir)` starts (or
  joins) a Spark session configured as profiles.yml configures dbt's, so Python in the process that ran dbt
  reads and writes the same tables. Derby admits one process at a time: a reader in another process while a
  build runs is refused, in one line (session(); a cluster's Hive metastore service has no such limit).
- `thrift` (target `spark_thrift`): a cluster's Spark Thrift Server or Kyuubi at SIYU_SPARK_THRIFT_HOST /
  SIYU_SPARK_THRIFT_PORT, through PyHive. Every connection sets the same session settings (THRIFT_SETTINGS).

`connect(folder)` gives either as one small interface (`SparkSQL`: frame, execute, table_exists, write),
which SparkWarehouse and siyu.spark_steps use.
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


# The session settings siyu's SQL relies on (profiles.yml says why), for a Thrift server's sessions: the
# profile's `spark_thrift` target sets the same (tests/test_spark_profile.py keeps them together). A Thrift
# server applies a session's settings only in the `set:hiveconf:` form.
THRIFT_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.mergeSchema": "true",
    "spark.sql.hive.metastorePartitionPruning": "false",
    "spark.sql.ansi.enabled": "false",
}
METHODS = ("session", "thrift")
# Rows per INSERT ... VALUES statement when a frame is written through a Thrift server.
THRIFT_INSERT_ROWS = 1000


class SparkUnavailable(RuntimeError):
    """Spark cannot start, or its metastore or Thrift server cannot be reached; the message names the cause
    and what to do."""


def method() -> str:
    """SIYU_SPARK_METHOD: `session` (local Spark in the process, the default) or `thrift` (a Thrift server)."""
    chosen = os.environ.get("SIYU_SPARK_METHOD", "session").strip().lower() or "session"
    if chosen not in METHODS:
        raise SparkUnavailable(f"SIYU_SPARK_METHOD={chosen!r}: known methods are {', '.join(METHODS)}")
    return chosen


def target() -> str:
    """The profile's target for the method (dbt_project/profiles.yml)."""
    return "spark" if method() == "session" else "spark_thrift"


def thrift_address() -> tuple[str, int]:
    return os.environ.get("SIYU_SPARK_THRIFT_HOST", "localhost"), int(os.environ.get("SIYU_SPARK_THRIFT_PORT", "10000"))


def session(folder: Path):
    """The process's Spark session on `folder`: the one a dbt build in this process started, else a new one.
    Raises SparkUnavailable, in one line, when Java is missing or another process holds the metastore."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    logging.getLogger("py4j").setLevel(logging.WARNING)  # py4j logs its gateway's connections at INFO
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
    for name, value in _pad_settings(lake).items():
        spark.conf.set(name, value)


def pseudonym_pad_environment(lake: Path) -> dict[str, str]:
    """The pads for the profile's `spark_thrift` target, which sets them on each Thrift session from these
    variables: dbt keeps DBT_ENV_SECRET_ values out of its logs and artifacts."""
    settings = _pad_settings(lake)
    return {
        "DBT_ENV_SECRET_SIYU_PSEUDONYM_IPAD": settings["spark.siyu.pseudonym_ipad"],
        "DBT_ENV_SECRET_SIYU_PSEUDONYM_OPAD": settings["spark.siyu.pseudonym_opad"],
    }


def _pad_settings(lake: Path) -> dict[str, str]:
    from siyu.pseudonyms import pads, pseudonym_key

    inner, outer = pads(pseudonym_key(Path(lake)))
    return {"spark.siyu.pseudonym_ipad": inner.hex(), "spark.siyu.pseudonym_opad": outer.hex()}


def connect(folder: Path | str):
    """The warehouse's Spark as a `SparkSQL`: the process's local session on `folder` (method session), or a
    new connection to the Thrift server (method thrift)."""
    if method() == "thrift":
        return ThriftSQL(thrift_connection())
    return SessionSQL(session(Path(folder)))


def thrift_connection():
    """A PyHive connection to the Thrift server, its session set as THRIFT_SETTINGS (SIYU_SPARK_THRIFT_USER,
    SIYU_SPARK_THRIFT_AUTH as the profile's `spark_thrift` target)."""
    from pyhive import hive

    logging.getLogger("pyhive").setLevel(logging.WARNING)  # PyHive logs every statement at INFO
    # thrift logs a refused connection with its traceback, which the SparkUnavailable below says in one line.
    logging.getLogger("thrift.transport").setLevel(logging.CRITICAL)
    host, port = thrift_address()
    try:
        return hive.connect(
            host=host,
            port=port,
            username=os.environ.get("SIYU_SPARK_THRIFT_USER", "siyu"),
            auth=os.environ.get("SIYU_SPARK_THRIFT_AUTH", "NONE"),
            configuration={f"set:hiveconf:{name}": value for name, value in THRIFT_SETTINGS.items()},
        )
    except Exception as error:  # thrift's TTransportException, a refused or reset socket
        cause = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SparkUnavailable(
            f"cannot reach the Spark Thrift server at {host}:{port} (SIYU_SPARK_THRIFT_HOST, "
            f"SIYU_SPARK_THRIFT_PORT; docs/spark.md): {cause}"
        ) from None


class SparkSQLError(RuntimeError):
    """A statement Spark refused; the message is Spark's first line."""


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
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


class SessionSQL:
    """`SparkSQL` on the process's Spark session (method session)."""

    def __init__(self, spark) -> None:
        self.spark = spark

    def frame(self, query: str) -> pd.DataFrame:
        from pyspark.errors import PySparkException

        try:
            return to_pandas(self.spark.sql(query))
        except PySparkException as error:
            raise SparkSQLError(str(error).splitlines()[0]) from error

    def execute(self, statement: str) -> None:
        self.spark.sql(statement)

    def table_exists(self, table: str) -> bool:
        return bool(self.spark.catalog.tableExists(checked_name(table)))

    def write(self, table: str, frame: pd.DataFrame, mode: str = "overwrite") -> None:
        write_table(self.spark, table, frame, mode)

    def close(self) -> None:
        """The session stays up for the process (Spark starts in seconds, not milliseconds)."""


class ThriftSQL:
    """`SparkSQL` through a Thrift server (method thrift): queries come back as pandas with Spark's types
    (dates as dates, arrays and maps as Python values); frames are written with INSERT ... VALUES in batches
    of THRIFT_INSERT_ROWS (the server may not see this machine's files)."""

    def __init__(self, connection) -> None:
        self.connection = connection

    def _run(self, statement: str):
        from pyhive.exc import Error

        cursor = self.connection.cursor()
        try:
            cursor.execute(statement)
        except Error as error:
            raise SparkSQLError(_thrift_message(error)) from error
        return cursor

    def frame(self, query: str) -> pd.DataFrame:
        cursor = self._run(query)
        return thrift_frame(cursor.description or [], cursor.fetchall())

    def execute(self, statement: str) -> None:
        self._run(statement)

    def table_exists(self, table: str) -> bool:
        schema, name = checked_name(table).split(".")
        if schema not in set(self.frame("show databases").iloc[:, 0]):
            return False
        return bool(len(self.frame(f"show tables in {schema} like '{name}'")))

    def write(self, table: str, frame: pd.DataFrame, mode: str = "overwrite") -> None:
        checked_name(table)
        self.execute(f"create database if not exists {table.split('.')[0]}")
        types = [spark_type(dtype) for dtype in frame.dtypes]
        ddl = ", ".join(f"`{name}` {kind}" for name, kind in zip(frame.columns, types, strict=True))
        if mode == "overwrite":
            self.execute(f"drop table if exists {table}")
        self.execute(f"create table if not exists {table} ({ddl}) using parquet")
        rows = frame.astype(object).itertuples(index=False)
        batch: list[str] = []
        for row in rows:
            batch.append("(" + ", ".join(_literal(value, kind) for value, kind in zip(row, types, strict=True)) + ")")
            if len(batch) == THRIFT_INSERT_ROWS:
                self.execute(f"insert into {table} values " + ", ".join(batch))
                batch = []
        if batch:
            self.execute(f"insert into {table} values " + ", ".join(batch))

    def close(self) -> None:
        self.connection.close()


def _thrift_message(error: Exception) -> str:
    """Spark's own message from a PyHive error (the Thrift response's errorMessage), first line."""
    response = error.args[0] if error.args else None
    message = getattr(getattr(response, "status", None), "errorMessage", None) or str(error)
    return message.splitlines()[0]


# pandas types for the columns of an empty result (a result with rows takes its values' types).
_EMPTY_TYPES = {"BIGINT_TYPE": "int64", "INT_TYPE": "int32", "DOUBLE_TYPE": "float64", "BOOLEAN_TYPE": "bool"}


def thrift_frame(description, rows) -> pd.DataFrame:
    """A Thrift result as pandas, typed as a local session's toPandas: timestamps as datetime64, dates as
    datetime.date, arrays, maps and structs as Python values (the server sends them as JSON text)."""
    import json
    from datetime import date

    names = [column[0] for column in description]
    columns: dict[int, object] = {}
    for position, column in enumerate(description):
        kind = column[1]
        values = [row[position] for row in rows]
        if not rows and kind in _EMPTY_TYPES:
            columns[position] = pd.Series([], dtype=_EMPTY_TYPES[kind])
        elif kind == "TIMESTAMP_TYPE":
            columns[position] = pd.to_datetime(pd.Series(values, dtype=object))
        elif kind == "DATE_TYPE":
            columns[position] = pd.Series([None if v is None else date.fromisoformat(v) for v in values], dtype=object)
        elif kind in ("ARRAY_TYPE", "MAP_TYPE", "STRUCT_TYPE"):
            columns[position] = pd.Series([None if v is None else json.loads(v) for v in values], dtype=object)
        else:
            columns[position] = pd.Series(values, dtype=None if values else object)
    frame = pd.concat([columns[position] for position in range(len(names))], axis=1) if names else pd.DataFrame()
    frame.columns = names
    return frame


def _literal(value, kind: str) -> str:
    """One value as a Spark SQL literal of the column's type (spark_type)."""
    value = _plain(value)
    if value is None:
        return f"cast(null as {kind})"
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("bigint", "int"):
        return str(int(value))
    if kind == "double":
        number = float(value)
        return repr(number) + "D" if number == number and abs(number) != float("inf") else f"double('{number}')"
    if kind == "timestamp":
        return f"timestamp'{value.isoformat(sep=' ')}'"
    return string_literal(str(value))


def string_literal(text: str) -> str:
    """Text as a Spark SQL string literal. `$` is written as a unicode escape: Spark substitutes `${name}`
    in a statement's text before parsing it (spark.sql.variable.substitute, which the pseudonym pads use)."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("$", "\\u0024")
    return f"'{escaped}'"


class SparkWarehouse:
    """The tables of a Spark build, read through local Spark or a Thrift server (connect)."""

    def __init__(self, folder: Path | str, read_only: bool = True) -> None:
        self.folder = Path(folder)
        self.read_only = read_only
        self.sql = connect(self.folder)
        self.reads: list[str] = []
        self._relations: dict[str, str] | None = None

    def __enter__(self) -> SparkWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sql.close()

    def relations(self) -> dict[str, str]:
        if self._relations is None:
            found: dict[str, str] = {}
            schemas = set(self.sql.frame("show databases").iloc[:, 0])
            for schema in sorted(schemas & set(SCHEMAS)):
                tables = self.sql.frame(f"show tables in {schema}")
                for name, temporary in zip(tables["tableName"], tables["isTemporary"], strict=True):
                    if temporary or "__dbt_tmp" in name or name.endswith("__previous"):
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
            return self.sql.table_exists(model)
        return model in self.relations()

    def read(self, model: str) -> pd.DataFrame:
        relation = self._relation(model)
        self.reads.append(model)
        try:
            return self.sql.frame(f"select * from {relation}")
        except SparkSQLError as error:
            raise UnreadableModel(f"{model}: {error}") from error

    def replace_partition(self, table: str, frame: pd.DataFrame, key_column: str, key_value: object) -> int:
        checked_name(table)
        checked_name(key_column)
        if "." not in table:
            raise ValueError(f"replace_partition needs schema.table, got {table!r}")
        kept = (
            self.sql.frame(f"select * from {table} where `{key_column}` <> {string_literal(str(key_value))}")
            if self.has(table)
            else frame.iloc[0:0]
        )
        merged = pd.concat([kept[list(frame.columns)], frame], ignore_index=True) if len(kept) else frame
        self.sql.write(table, merged)
        self._relations = None
        return int((merged[key_column].astype(str) == str(key_value)).sum())
