"""The DuckDB implementation of `siyu.warehouse.Warehouse`: one DuckDB file, read-only unless asked."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pandas as pd

from siyu.warehouse import MissingModel, UnreadableModel, checked_name

log = logging.getLogger(__name__)


def quoted(*parts: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


class DuckDBWarehouse:
    """A DuckDB warehouse file. `reads` records, in order, the models read through it (tests compare it
    with a consumer's exposure)."""

    def __init__(self, path: Path, read_only: bool = True) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.connection = duckdb.connect(str(self.path), read_only=read_only)
        self.reads: list[str] = []
        self._relations: dict[str, str] | None = None

    def __enter__(self) -> DuckDBWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def relations(self) -> dict[str, str]:
        if self._relations is None:
            rows = self.connection.execute(
                "select table_name, table_schema from information_schema.tables"
                " where table_catalog = current_database() and not contains(table_name, '__dbt_tmp')"
                " order by table_schema, table_name"
            ).fetchall()
            found: dict[str, str] = {}
            for name, schema in rows:
                # dbt names are unique in a project: two schemas holding one name means a stale relation
                # from an older layout, and which is current cannot be told from the name.
                found[name] = "" if name in found else schema
            self._relations = found
        return self._relations

    def _relation(self, model: str) -> str:
        checked_name(model)
        if "." in model:
            schema, name = model.split(".")
            if not self._exists(schema, name):
                raise MissingModel(model)
            return quoted(schema, name)
        schema = self.relations().get(model)
        if schema is None:
            raise MissingModel(model)
        if not schema:
            raise UnreadableModel(f"{model} is in more than one schema; read it as schema.{model}")
        return quoted(schema, model)

    def _exists(self, schema: str, name: str) -> bool:
        return bool(
            self.connection.execute(
                "select count(*) from information_schema.tables"
                " where table_catalog = current_database() and table_schema = ? and table_name = ?",
                [schema, name],
            ).fetchall()[0][0]
        )

    def has(self, model: str) -> bool:
        checked_name(model)
        if "." in model:
            return self._exists(*model.split("."))
        return model in self.relations()

    def read(self, model: str) -> pd.DataFrame:
        relation = self._relation(model)
        self.reads.append(model)
        try:
            return self.connection.sql(f"select * from {relation}").df()
        except duckdb.CatalogException as error:  # dropped since the catalog was read
            raise MissingModel(model) from error
        except duckdb.IOException as error:
            raise UnreadableModel(f"{model}: {error}") from error

    def replace_partition(self, table: str, frame: pd.DataFrame, key_column: str, key_value: object) -> int:
        checked_name(table)
        checked_name(key_column)
        if "." not in table:
            raise ValueError(f"replace_partition needs schema.table, got {table!r}")
        schema, name = table.split(".")
        relation = quoted(schema, name)
        columns = ", ".join(quoted(column) for column in map(checked_name, frame.columns))
        self.connection.register("siyu_partition_rows", frame)
        try:
            self.connection.execute("begin transaction")
            self.connection.execute(f"create schema if not exists {quoted(schema)}")
            self.connection.execute(
                f"create table if not exists {relation} as select * from siyu_partition_rows limit 0"
            )
            self.connection.execute(f"delete from {relation} where {quoted(key_column)} = ?", [key_value])
            self.connection.execute(f"insert into {relation} ({columns}) select {columns} from siyu_partition_rows")
            self.connection.execute("commit")
        except Exception:
            self.connection.execute("rollback")
            raise
        finally:
            self.connection.unregister("siyu_partition_rows")
        self._relations = None
        (count,) = self.connection.execute(
            f"select count(*) from {relation} where {quoted(key_column)} = ?", [key_value]
        ).fetchall()[0]
        return count
