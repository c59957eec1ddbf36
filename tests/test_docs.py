"""dbt docs with every mart column filled in: each column of every mart (schemas marts and audiences) has a
description in its yml, and a column shared by several marts is described once, in a doc block of
dbt_project/models/docs.md, which every yml entry references."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest
import yaml

MODELS = Path(__file__).resolve().parents[1] / "dbt_project" / "models"
MART_SCHEMAS = ("marts", "audiences")


def doc_blocks() -> dict[str, str]:
    text = "".join(path.read_text(encoding="utf-8") for path in MODELS.rglob("*.md"))
    return {
        name: body.strip() for name, body in re.findall(r"{%\s*docs\s+(\w+)\s*%}(.*?){%\s*enddocs\s*%}", text, re.S)
    }


def documented_columns() -> dict[str, dict[str, str]]:
    """model → column → description as written in its yml (a doc() reference or text)."""
    columns: dict[str, dict[str, str]] = {}
    for path in MODELS.rglob("_*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models") or []:
            columns[model["name"]] = {
                c["name"]: (c.get("description") or "").strip() for c in model.get("columns") or []
            }
    return columns


def test_doc_references_name_existing_blocks():
    blocks = doc_blocks()
    missing = {
        (model, column, reference)
        for model, described in documented_columns().items()
        for column, description in described.items()
        for reference in re.findall(r"doc\(['\"](\w+)['\"]\)", description)
        if reference not in blocks
    }
    assert not missing, missing


def mart_columns(warehouse: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select table_name, column_name from information_schema.columns"
            f" where table_schema in {MART_SCHEMAS} order by all"
        ).fetchall()


@pytest.mark.integration
def test_shared_mart_columns_reference_their_doc_block(world_warehouse):
    """A column that several marts share and that has a doc block is described by that block in every one."""
    built = mart_columns(world_warehouse)
    described, blocks = documented_columns(), doc_blocks()
    marts_with = defaultdict(set)
    for model, column in built:
        marts_with[column].add(model)
    shared = [(model, column) for model, column in built if len(marts_with[column]) > 1 and column in blocks]
    assert len(shared) > 150
    not_referenced = [
        f"{model}.{column}"
        for model, column in shared
        if not re.fullmatch(rf"{{{{\s*doc\(['\"]{column}['\"]\)\s*}}}}", described.get(model, {}).get(column, ""))
    ]
    assert not not_referenced, f"described again, or not at all, instead of by its doc block: {not_referenced}"


@pytest.mark.integration
def test_every_mart_column_is_described(world_warehouse):
    built = mart_columns(world_warehouse)
    described = documented_columns()
    undescribed = [f"{model}.{column}" for model, column in built if not described.get(model, {}).get(column)]
    assert not undescribed, f"{len(undescribed)} of {len(built)} mart columns have no description: {undescribed}"
