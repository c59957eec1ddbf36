"""CI check (issue 18): every persisted column holding personal data in the clear is tagged `pii` in its
model's yml, with the reason (meta.pii). The check reads dbt's manifest and samples the built warehouse: a
text column whose values are identifiers the identity graph knows (phones, unionids, external_userids,
member cards, shop accounts, openids, also as `type:value` keys), look like a mainland mobile number, or are
a customer's name as a source gave it, holds personal data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb

PHONE = re.compile(r"\+?(86)?1[3-9][0-9]{9}")
SAMPLE = 2000
# Schemas of persisted tables downstream of staging (staging is views over the lake; reference is seeds).
PERSISTED = ("intermediate", "marts", "audiences", "activation")
NAMES = """
    select contact_name from staging.stg_wecom__external_contacts
    union select member_name from staging.stg_store__members
    union select nick_name from staging.stg_shop__users
    union select remark from staging.stg_wecom__follow_relations
"""


def _looks_personal(value: str, identifiers: set[str], names: set[str]) -> bool:
    for part in {value, value.split(":", 1)[-1]}:
        if part.lower() in identifiers or part.lower() in names or PHONE.fullmatch(part):
            return True
    return False


def _tagged(column: dict) -> bool:
    config = column.get("config") or {}
    meta = {**(column.get("meta") or {}), **(config.get("meta") or {})}
    tags = set(column.get("tags") or []) | set(config.get("tags") or [])
    return "pii" in tags and bool(meta.get("pii"))


def untagged_personal_columns(warehouse: Path, manifest: Path) -> list[str]:
    """schema.table.column of every persisted column holding personal data that its yml does not tag pii."""
    nodes = {
        (node["schema"], node.get("alias") or node["name"]): node
        for node in json.loads(manifest.read_text())["nodes"].values()
        if node["resource_type"] in ("model", "snapshot", "seed")
    }
    found = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        identifiers = {
            row[0].lower() for row in con.execute("select id_value from intermediate.int_identity_nodes").fetchall()
        }
        names = {row[0].lower() for row in con.execute(NAMES).fetchall() if row[0] and len(row[0]) >= 2}
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
            f"and table_schema in {PERSISTED} order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            columns = con.execute(
                "select column_name, data_type from information_schema.columns where table_schema = ? "
                "and table_name = ? and data_type in ('VARCHAR', 'VARCHAR[]')",
                [schema, table],
            ).fetchall()
            node = nodes.get((schema, table))
            for column, data_type in columns:
                value = f'unnest("{column}")' if data_type.endswith("[]") else f'"{column}"'
                sample = con.execute(
                    f'select distinct {value} as value from "{schema}"."{table}" where "{column}" is not null '
                    f"using sample {SAMPLE} rows"
                ).fetchall()
                if not any(row[0] and _looks_personal(row[0], identifiers, names) for row in sample):
                    continue
                described = (node or {}).get("columns", {}).get(column)
                if described is None or not _tagged(described):
                    found.append(f"{schema}.{table}.{column}")
    return found


def test_every_persisted_column_with_personal_data_is_tagged_pii(world_warehouse):
    """GIVEN the built small world WHEN every persisted text column is sampled THEN each one holding
    identifiers, phones or names is tagged pii with a reason in its yml. (Fails listing 24 columns on the
    yml before issue 18.)"""
    manifest = world_warehouse.parent / "dbt_target" / "manifest.json"
    assert untagged_personal_columns(world_warehouse, manifest) == []


def test_the_check_sees_personal_data(world_warehouse):
    """The check is not blind: the identity map's node keys hold identifiers (and are tagged)."""
    with duckdb.connect(str(world_warehouse), read_only=True) as con:
        identifiers = {
            row[0].lower() for row in con.execute("select id_value from intermediate.int_identity_nodes").fetchall()
        }
        keys = [row[0] for row in con.execute("select node_key from intermediate.int_identity_map limit 50").fetchall()]
    assert keys and all(_looks_personal(key, identifiers, set()) for key in keys)
    assert not _looks_personal("C0123456789abcdef", identifiers, set())
