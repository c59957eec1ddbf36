"""siyu.warehouse.maintenance, the engine's side of erasure (siyu.privacy says what, this does it): on a small
DuckDB file, the rows holding her values go and no one else's, the residue check finds a value alone, as a
part of a key (phone:+86...) and in a list, and compaction rewrites the file with the live rows only."""

from __future__ import annotations

import duckdb
import pytest

from siyu.warehouse.maintenance import (
    compact,
    compact_when_bloated,
    delete_rows,
    drop_temporary_relations,
    residue,
    tables_with_column,
)

HER, OTHER = "C00000000000000aa", "C00000000000000bb"
HER_PHONE = "+8613912345678"


@pytest.fixture()
def warehouse(tmp_path):
    path = tmp_path / "siyu.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema intermediate")
        connection.execute("create schema marts")
        connection.execute(
            "create table intermediate.int_identity_map as select * from (values"
            f" ('phone:{HER_PHONE}', '{HER}'), ('phone:+8613700000000', '{OTHER}')) as rows(node_key, customer_id)"
        )
        connection.execute(
            "create table marts.customer_merges as select * from (values"
            f" ('C00000000000000cc', '{HER}'), ('C00000000000000dd', '{OTHER}')) as rows(merged_id, into_id)"
        )
        connection.execute(
            "create table marts.messages as select * from (values"
            f" ('m1', ['{HER_PHONE}', 'x']), ('m2', ['y'])) as rows(message_id, phones)"
        )
        connection.execute("create table marts.plain as select 1 as n")
        connection.execute("create table marts.orders__dbt_tmp20250101 as select 1 as n")
    return path


def _count(path, table: str) -> int:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(f"select count(*) from {table}").fetchone()[0]


def test__residue__finds_a_value_alone_in_a_key_and_in_a_list(warehouse):
    # GIVEN her phone in an identity map key and in a message's phone list, and her id in the merges
    # WHEN the warehouse is searched for her values
    found = residue(warehouse, {HER_PHONE, HER})

    # THEN every table holding one is named with its rows, and nothing else
    assert found == {"intermediate.int_identity_map": 1, "marts.customer_merges": 1, "marts.messages": 1}
    assert residue(warehouse, {HER_PHONE}) == {"intermediate.int_identity_map": 1, "marts.messages": 1}
    assert residue(warehouse, {"nobody"}) == {}


def test__delete_rows__removes_her_rows_and_keeps_everyone_elses(warehouse):
    # WHEN her ids are deleted from the identity map and the merges (and a table the warehouse lacks)
    removed = delete_rows(
        warehouse,
        {
            "intermediate.int_identity_map": {"customer_id": {HER}, "node_key": {f"phone:{HER_PHONE}"}},
            "marts.customer_merges": {"merged_id": {HER}, "into_id": {HER}},
            "activation.sends": {"customer_id": {HER}},
        },
    )

    # THEN one row each went, the other customer's stayed, and the missing table is skipped
    assert removed == {"intermediate.int_identity_map": 1, "marts.customer_merges": 1}
    assert _count(warehouse, "intermediate.int_identity_map") == 1
    assert residue(warehouse, {HER}) == {}
    assert residue(warehouse, {OTHER}) == {"intermediate.int_identity_map": 1, "marts.customer_merges": 1}


def test__compact__rewrites_the_file_with_live_rows_only(warehouse):
    # GIVEN many of her identity map rows deleted and checkpointed: DuckDB keeps their blocks in its file
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            "insert into intermediate.int_identity_map select 'phone:' || uuid()::varchar, ? from range(200000)",
            [HER],
        )
        connection.execute("checkpoint")
        connection.execute("delete from intermediate.int_identity_map where customer_id = ?", [HER])
        connection.execute("checkpoint")
    size_before = warehouse.stat().st_size

    # WHEN the warehouse is compacted
    compact(warehouse)

    # THEN the file is a fraction of its size, and every live row is there
    assert warehouse.stat().st_size < size_before / 2
    assert _count(warehouse, "intermediate.int_identity_map") == 1
    assert _count(warehouse, "marts.messages") == 2
    assert residue(warehouse, {OTHER}) == {"intermediate.int_identity_map": 1, "marts.customer_merges": 1}


def test__compact_when_bloated__only_when_much_of_the_file_is_free(warehouse):
    # GIVEN a warehouse whose tables a build replaced: a big table written, then dropped (as dbt's
    # create-and-swap of a table leaves the old one's blocks free)
    assert compact_when_bloated(warehouse) is None, "a file with little free space is left alone"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            "create table marts.replaced as select range as n, md5(range::varchar) as s from range(500000)"
        )
        connection.execute("create table marts.written_after as select range as n from range(1000)")
        connection.execute("checkpoint")
        connection.execute("drop table marts.replaced")
        connection.execute("checkpoint")

    # WHEN a build ends and checks the file
    sizes = compact_when_bloated(warehouse)

    # THEN it was compacted to a fraction of its size, with every live table
    assert sizes is not None and sizes[1] < sizes[0] / 2
    assert compact_when_bloated(warehouse) is None
    assert _count(warehouse, "intermediate.int_identity_map") == 2 and _count(warehouse, "marts.plain") == 1


def test__tables_with_column_and_temporary_relations(warehouse):
    assert tables_with_column(warehouse, "customer_id") == ["intermediate.int_identity_map"]
    assert drop_temporary_relations(warehouse) == ["marts.orders__dbt_tmp20250101"]
    assert tables_with_column(warehouse, "n") == ["marts.plain"]
