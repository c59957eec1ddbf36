"""PIPL end to end (issue 18): keyed pseudonyms, erasure that deletes, subject access.

The erasure scenario runs on a copy of the session's landed small world (lake, warehouse, key): it first
makes a real merge (a build without the store's member records, then one with them: customers whose card
and phone only the member record joined split and merge back, so one id is merged away), exports the
audiences and writes the tags back to the WeCom simulator, then erases three customers: one by phone, one
by a merged-away customer id, one by unionid."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import run_dag

from siyu.privacy import ErasureRequest, erase, pending_requests, request_erasure, subject_access
from siyu.pseudonyms import pseudonym

# --- helpers ------------------------------------------------------------------------------------------------


def _query(warehouse: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _raw_forms(value: str) -> set[str]:
    """How an identifier may be written in a file: as stored, and a phone as its 11 digits."""
    found = {value}
    if value.startswith("+86"):
        found.add(value[3:])
    return found


def _unkeyed(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _file_texts(path: Path) -> list[str]:
    """The text a file holds, decoded where the bytes are compressed: a Parquet file's rows, a DuckDB file's
    every text value (and its raw bytes, for free blocks), any other file's bytes."""
    if path.suffix == ".parquet":
        return [json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False)]
    raw = path.read_bytes().decode("latin-1")
    if path.suffix != ".duckdb":
        return [raw, path.read_bytes().decode("utf-8", errors="ignore")]
    texts = [raw]
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, name in tables:
            texts.append(json.dumps(con.execute(f'select * from "{schema}"."{name}"').fetchall(), default=str))
    return texts


def _scan(root: Path, needles: set[str]) -> dict[str, list[str]]:
    """Every file under root holding any needle: file → needles found."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.endswith(".wal"):
            continue
        texts = _file_texts(path)
        texts = [text.lower() for text in texts]  # sources write ids in any case; siyu lower-cases them
        hits = sorted(needle for needle in needles if any(needle.lower() in text for text in texts))
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def _current_key(root: Path) -> bytes:
    return (root / "privacy" / "pseudonym.key").read_text().strip().encode()


# --- keyed pseudonyms -----------------------------------------------------------------------------------------


def test_marts_hashes_cannot_be_reproduced_without_the_key(world_warehouse):
    """GIVEN the built small world WHEN its marts' identifier hashes are recomputed THEN the plain SHA-256 of
    the E.164 phone (what an attacker enumerating phone numbers computes) matches none, another key matches
    none, and HMAC-SHA256 under siyu's key matches every one. (Fails on the unkeyed sha256 macro.)"""
    rows = _query(
        world_warehouse,
        """select customers.primary_phone_hash, nodes.id_value
        from marts.dim_customers as customers
        inner join intermediate.int_customer_nodes as nodes
            on nodes.customer_id = customers.customer_id and nodes.id_type = 'phone'
        where customers.primary_phone_hash is not null""",
    )
    by_customer_hash: dict[str, set[str]] = {}
    for phone_hash, phone in rows:
        by_customer_hash.setdefault(phone_hash, set()).add(phone)
    assert len(by_customer_hash) > 100
    key = _current_key(world_warehouse.parents[1])
    assert all(phone_hash not in {_unkeyed(p) for p in phones} for phone_hash, phones in by_customer_hash.items())
    assert all(
        phone_hash not in {pseudonym(p, b"another key") for p in phones}
        for phone_hash, phones in by_customer_hash.items()
    )
    assert all(phone_hash in {pseudonym(p, key) for p in phones} for phone_hash, phones in by_customer_hash.items())
    identifiers = _query(
        world_warehouse,
        """select identifiers.id_value_hash, nodes.id_value
        from marts.customer_identifiers as identifiers
        inner join intermediate.int_customer_nodes as nodes
            on nodes.customer_id = identifiers.customer_id and nodes.id_type = identifiers.id_type
        where identifiers.id_value_hash = (select any_value(id_value_hash) from marts.customer_identifiers)""",
    )
    assert identifiers and any(row[0] == pseudonym(row[1], key) for row in identifiers)
    assert all(row[0] != _unkeyed(row[1]) for row in identifiers)


def test_the_warehouse_query_fails_without_the_key(world_warehouse):
    """The compiled SQL of a model that hashes, run without the plugin's variables (no key), raises instead
    of hashing with an empty key. (Fails on a macro that falls back to NULL or to a plain hash.)"""
    manifest = json.loads((world_warehouse.parent / "dbt_target" / "manifest.json").read_text())
    [node] = [node for node in manifest["nodes"].values() if node["name"] == "int_customer_pseudonyms"]
    sql = node["compiled_code"]
    assert "sha256" in sql and "siyu_pseudonym_opad" in sql
    with duckdb.connect(str(world_warehouse), read_only=True) as con, pytest.raises(duckdb.Error, match="no pseudonym"):
        con.execute(sql).fetchall()


# --- erasure ------------------------------------------------------------------------------------------------


@pytest.fixture()
def data_dir(world_warehouse, tmp_path, monkeypatch) -> Path:
    """A copy of the landed small world: lake, warehouse, privacy (its key); what the erase writes to."""
    source = world_warehouse.parents[1]
    root = tmp_path / "data"
    shutil.copytree(source / "lake", root / "lake")
    shutil.copytree(source / "wh", root / "warehouse", ignore=shutil.ignore_patterns("dbt_target"))
    shutil.copytree(source / "privacy", root / "privacy")
    monkeypatch.setenv("SIYU_LAKE_DIR", str(root / "lake"))
    monkeypatch.delenv("SIYU_PRIVACY_DIR", raising=False)
    monkeypatch.delenv("SIYU_PSEUDONYM_KEY", raising=False)
    return root


def _merge_by_rebuilding(root: Path, truth: Path) -> None:
    """A real merge: build without the store's member records (customers that only they joined split),
    then with them again (the parts join back: the newer id is merged into the older)."""
    from siyu.transform import dbt_build

    members = root / "lake" / "raw" / "store" / "members"
    aside = root / "members-aside"
    shutil.move(members, aside)
    assert dbt_build(root / "lake", root / "warehouse" / "siyu.duckdb", truth=truth).success
    shutil.move(aside, members)
    assert dbt_build(root / "lake", root / "warehouse" / "siyu.duckdb", truth=truth).success


def _state(warehouse: Path) -> dict:
    return {
        "ids": dict(_query(warehouse, "select node_key, customer_id from intermediate.int_identity_map")),
        "measures": {
            row[0]: row[1:]
            for row in _query(
                warehouse, "select customer_id, recency_days, frequency, monetary from marts.customer_rfm"
            )
        },
        "rfm": dict(_query(warehouse, "select customer_id, rfm_segment from marts.customer_rfm")),
        "lifecycle": dict(_query(warehouse, "select customer_id, lifecycle_stage from marts.customer_lifecycle")),
        "audiences": dict(_query(warehouse, "select customer_id, audience from audiences.audience_assignments")),
        "gmv": dict(_query(warehouse, "select customer_id, sum(net_amount) from marts.fct_orders group by 1")),
        "kpi": {
            row[:2]: row[2:]
            for row in _query(
                warehouse,
                "select period_start, channel, new_buyers, returning_buyers, gmv from marts.kpi_gmv_new_returning "
                "where period_grain = 'month'",
            )
        },
    }


def test_erasure_deletes_three_customers_everywhere_and_nobody_else(data_dir, small_world, sim, monkeypatch):
    from siyu.activation import audiences_as_of, export_audiences, writeback_tags
    from siyu.connectors.wecom import WeComClient
    from siyu.settings import connection_env, wecom_config

    warehouse = data_dir / "warehouse" / "siyu.duckdb"
    _merge_by_rebuilding(data_dir, small_world / "truth")
    merged = _query(
        warehouse,
        """select merges.merged_id, merges.into_id from marts.customer_merges as merges
        where merges.merged_id not in (select customer_id from intermediate.int_identity_map)
          and merges.into_id in (select customer_id from marts.fct_orders)
        order by 1 limit 1""",
    )
    assert merged, "the rebuild without member records merged nobody back"
    merged_id, merged_into = merged[0]
    exports = data_dir / "exports"
    export_audiences(warehouse, exports, audiences_as_of(warehouse), run_id="before-erasure")
    for name, value in connection_env(sim.base_url, sim.credentials).items():
        monkeypatch.setenv(name, value)
    with WeComClient(wecom_config()) as client:
        assert writeback_tags(warehouse, client).tags_added > 0

    # three customers with orders, a phone, a unionid, WeCom friendships, distinct from the merged one
    candidates = _query(
        warehouse,
        """select nodes.customer_id,
            max(case when nodes.id_type = 'phone' then nodes.id_value end) as phone,
            max(case when nodes.id_type = 'unionid' then nodes.id_value end) as unionid
        from intermediate.int_customer_nodes as nodes
        where nodes.customer_id in (select customer_id from marts.fct_orders)
          and nodes.customer_id in (select customer_id from audiences.wecom_tags_desired)
          and nodes.customer_id != ?
        group by nodes.customer_id
        having count(distinct case when nodes.id_type = 'phone' then nodes.id_value end) = 1
           and count(distinct case when nodes.id_type = 'unionid' then nodes.id_value end) = 1
        order by nodes.customer_id limit 2""",
        [merged_into],
    )
    (by_phone, phone, _), (by_unionid, _, unionid) = candidates
    erased = {by_phone, merged_into, by_unionid}
    before = _state(warehouse)
    warehouse_before = data_dir.parent / "before.duckdb"  # outside the data directory the scan reads
    shutil.copy(warehouse, warehouse_before)
    values = {
        customer_id: {
            row[0]
            for row in _query(
                warehouse,
                "select split_part(node_key, ':', 2) from intermediate.int_identity_map where customer_id = ?",
                [customer_id],
            )
        }
        for customer_id in erased
    }
    externals = {
        row[0]
        for row in _query(
            warehouse,
            "select id_value from intermediate.int_customer_nodes where id_type = 'external_userid' and customer_id in "
            f"({', '.join(repr(c) for c in erased)})",
        )
    }
    orders = {
        row[0]
        for row in _query(
            warehouse,
            f"select order_id from marts.fct_orders where customer_id in ({', '.join(repr(c) for c in erased)})",
        )
    }
    needles = set()
    for found in [*values.values(), erased, {merged_id}]:
        for value in found:
            needles |= _raw_forms(value) | {_unkeyed(value)}
    assert _scan(data_dir, needles), "the customers were not in the data directory to begin with"

    requests = [
        request_erasure(phone[3:], None, data_dir / "lake"),  # as the customer writes it: 11 digits
        request_erasure(merged_id, "customer_id", data_dir / "lake"),
        request_erasure(unionid, "unionid", data_dir / "lake"),
    ]
    with WeComClient(wecom_config()) as client:
        records = erase(
            pending_requests(data_dir / "lake"),
            lake=data_dir / "lake",
            warehouse=warehouse,
            exports=exports,
            wecom_client=client,
            truth=small_world / "truth",
        )

    # THEN no file under the data directory holds any of their identifiers, ids or their old unkeyed hashes
    assert _scan(data_dir, needles) == {}
    # the audit log lists what was removed, per request, without personal data (the scan covered it)
    audit = [json.loads(line) for line in (data_dir / "privacy" / "erasure_audit.jsonl").read_text().splitlines()]
    assert [record["request_id"] for record in audit] == [request.request_id for request in requests]
    for record in audit:
        assert record["found"] and record["received_at"] <= record["done_at"]
        assert record["removed"]["warehouse/intermediate.int_identity_map"] > 0
        assert any(place.startswith("lake/raw/") and count > 0 for place, count in record["removed"].items())
        assert "wecom/friendships_untagged" in record["removed"]
    assert audit[0]["removed"]["wecom/friendships_untagged"] > 0  # both chosen with WeCom friendships
    assert audit[2]["removed"]["wecom/friendships_untagged"] > 0
    assert records[1]["merged_ids"] >= 1
    assert pending_requests(data_dir / "lake") == []
    # her WeCom friendships carry none of siyu's tags any more
    with WeComClient(wecom_config()) as client:
        managed = {
            tag["id"]
            for group in client.corp_tags()
            if group.get("group_name", "").startswith("siyu")
            for tag in group["tag"]
        }
        for item in client.contacts_by_user(client.follow_users()):
            if item["external_contact"]["external_userid"] in externals:
                assert not set(item["follow_info"].get("tag_id") or []) & managed
    # every other customer keeps its ids, RFM measures, lifecycle stage and orders
    after = _state(warehouse)
    assert {k: v for k, v in before["ids"].items() if v not in erased} == after["ids"]
    for table in ("measures", "lifecycle", "gmv"):
        assert {k: v for k, v in before[table].items() if k not in erased} == after[table], table
    assert orders and not {row[0] for row in _query(warehouse, "select order_id from marts.fct_orders")} & orders
    # RFM scores are quintiles of everyone's ranks and VIP care the top share by spend: removing three
    # customers may move a boundary customer (an aggregate that counted them), nobody else
    others = len(after["rfm"])
    moved = {k for k, v in after["rfm"].items() if before["rfm"].get(k) != v}
    assert len(moved) <= 0.01 * others
    changed = {k for k in set(before["audiences"]) | set(after["audiences"]) if k not in erased}
    changed = {k for k in changed if before["audiences"].get(k) != after["audiences"].get(k)}
    assert len(changed - moved) <= 0.01 * others
    # KPIs: a month and channel where none of them bought is unchanged; where they did, it counts fewer
    months = {
        (row[0], row[1])
        for row in _query(
            warehouse_before,
            "select cast(date_trunc('month', paid_at) as date), channel from marts.fct_orders "
            f"where is_paid and customer_id in ({', '.join(repr(c) for c in erased)})",
        )
    }
    months |= {(month, "all") for month, _ in months}  # the all-channel rows count every channel
    for key, value in before["kpi"].items():
        if key not in months:
            assert after["kpi"].get(key) == value, key
        else:
            assert sum(after["kpi"][key][:2]) <= sum(value[:2]), key

    # re-ingesting an old record of hers lands nothing of her
    from siyu.lake import write_partition

    partition = next(
        path
        for path in (data_dir / "lake" / "raw" / "shop" / "orders").glob("dt=*")
        if pq.read_table(path / "part-0.parquet").num_rows
    )
    table = pq.read_table(partition / "part-0.parquet")
    old_order = table.slice(0, 1).to_pylist()[0] | {"buyer_phone": phone[3:], "tid": "E-REINGESTED"}
    import pyarrow as pa

    resent = pa.concat_tables([table, pa.Table.from_pylist([old_order], schema=table.schema)])
    manifest = write_partition(
        data_dir / "lake", "shop", "orders", partition.name[3:], resent, run_id="resend", window=("0", "1")
    )
    assert manifest["suppressed"] == 1 and manifest["rows"] == table.num_rows


def test_a_request_for_nobody_is_audited_without_deleting_anything(data_dir):
    warehouse = data_dir / "warehouse" / "siyu.duckdb"
    size = warehouse.stat().st_size
    request = ErasureRequest("Etest", "+8613000000001", "phone", "2026-01-01T00:00:00+00:00")
    [record] = erase(request, lake=data_dir / "lake", warehouse=warehouse, exports=None)
    assert record == record | {"found": False, "customers": 0} and "lake/raw" not in json.dumps(record["removed"])
    assert warehouse.stat().st_size == size


# --- subject access -----------------------------------------------------------------------------------------


def test_subject_access_lists_her_data_and_nothing_of_anyone_else(world_warehouse, tmp_path, monkeypatch):
    root = world_warehouse.parents[1]
    monkeypatch.setenv("SIYU_LAKE_DIR", str(root / "lake"))
    [(customer_id, phone)] = _query(
        world_warehouse,
        """select nodes.customer_id, min(nodes.id_value) from intermediate.int_customer_nodes as nodes
        where nodes.id_type = 'phone'
          and nodes.customer_id in (select customer_id from marts.fct_orders)
          and nodes.customer_id in (select customer_id from marts.customer_tags)
          and nodes.customer_id in (select customer_id from audiences.audience_assignments)
          and nodes.customer_id in (select customer_id from marts.customer_rfm)
          -- referred by a friend: her raw orders name the friend's shop account (source_ref)
          and nodes.customer_id in (
              select referred_id from intermediate.prep_customer_referrals where referral_kind = 'share_link'
          )
        group by 1 order by 1 limit 1""",
    )
    report = subject_access(phone, "phone", lake=root / "lake", warehouse=world_warehouse, out=tmp_path / "access")
    assert report["customer_ids"] == [customer_id]
    items = report["items"]
    her_orders = {
        row[0]
        for row in _query(world_warehouse, "select order_id from marts.fct_orders where customer_id = ?", [customer_id])
    }
    assert {row["order_id"] for row in items["warehouse:marts.fct_orders"]} == her_orders
    assert {"phone"} <= {identifier["type"] for identifier in report["identifiers"]}
    for table in ("marts.customer_rfm", "marts.customer_tags", "audiences.audience_assignments"):
        assert items[f"warehouse:{table}"], table
    assert any(place.startswith("lake:raw/") for place in items)
    text = (tmp_path / "access" / "subject_access.json").read_text()
    assert (tmp_path / "access" / "subject_access.html").read_text().count(customer_id) >= 1
    # nothing of anyone else: no other customer's id, no identifier that is not hers
    others = _query(
        world_warehouse, "select customer_id, split_part(node_key, ':', 2) from intermediate.int_identity_map"
    )
    mine = {value for owner, value in others if owner == customer_id}
    leaked = {
        value
        for owner, value in others
        if owner != customer_id and value not in mine and len(value) >= 8 and f'"{value}"' in text
    }
    leaked |= {owner for owner, _ in others if owner != customer_id and owner in text}
    assert leaked == set()


def test_the_erase_dag_carries_out_waiting_requests(dagbag, pipeline_env, warehouse_copy, world_warehouse, monkeypatch):
    """GIVEN a request for a phone nobody has, queued as `siyu erase --queue` does WHEN the erase DAG runs
    THEN it is carried out (audited as not found) and no longer waits; the DAG's logs and conf never held it."""

    lake = pipeline_env / "lake"
    shutil.copytree(world_warehouse.parents[1] / "lake", lake)
    shutil.copytree(world_warehouse.parents[1] / "privacy", pipeline_env / "privacy")
    monkeypatch.setenv("SIYU_WAREHOUSE", str(warehouse_copy))
    request = request_erasure("13000000001", "phone", lake)
    assert [waiting.request_id for waiting in pending_requests(lake)] == [request.request_id]
    run_dag(dagbag, "erase")
    assert pending_requests(lake) == []
    [record] = [
        json.loads(line) for line in (pipeline_env / "privacy" / "erasure_audit.jsonl").read_text().splitlines()
    ]
    assert record["request_id"] == request.request_id and record["found"] is False
