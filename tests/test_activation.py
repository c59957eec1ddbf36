"""The activate_audiences DAG against the simulator: exports hold no suppressed customer, WeCom ends up
with exactly the computed tags, and a second run sends no mark_tag call."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import httpx
import pandas as pd
import pytest
from conftest import run_dag

from siyu.activation import AUDIENCES
from siyu.settings import connection_env
from siyu.transform import dbt_build

pytestmark = pytest.mark.integration
RFM_GROUP, STAGE_GROUP = "siyu RFM 分层", "siyu 生命周期"  # var wecom_tag_groups


@pytest.fixture()
def activation_sim(small_world):
    """Simulators of their own: writeback changes the served world, which other tests compare with."""
    from siyu_sim.server import RunningSimulators

    with RunningSimulators(small_world) as sim:
        sim.sims.state.set_clock(sim.sims.state.meta["end_ts"] + 60)
        yield sim


@pytest.fixture()
def activation_env(activation_sim, warehouse_copy, tmp_path, monkeypatch):
    extra = {"max_wait_seconds": 0.05, "timeout_seconds": 2.0, "max_attempts": 30}
    for name, value in connection_env(activation_sim.base_url, activation_sim.credentials, extra).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SIYU_WAREHOUSE", str(warehouse_copy))
    monkeypatch.setenv("SIYU_EXPORTS_DIR", str(tmp_path / "exports"))
    return tmp_path


def mark_tag_calls(sim) -> int:
    return httpx.get(f"{sim.base_url}/_sim/stats").json()["wecom_calls"].get("mark_tag", 0)


def expected_tags(warehouse, sim) -> dict[tuple[str, str], set[str]]:
    """(guide, external_userid) → the ids of siyu's tags each live friendship must carry."""
    tags = sim.sims.state.tags
    groups = sim.sims.state.tag_groups.set_index("group_id")["group_name"].to_dict()
    tag_id = {(groups[row.group_id], row.name): row.tag_id for row in tags.itertuples()}
    # Written independently of the model that drives the writeback: each customer's segment and stage.
    parts = f"""select '{RFM_GROUP}' as group_name, customer_id, segment_zh as tag from marts.customer_rfm
                union all
                select '{STAGE_GROUP}', customer_id, stage_zh from marts.customer_lifecycle"""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.sql(
            f"""select r.guide_userid, r.external_userid, t.group_name, t.tag
                from staging.stg_wecom__follow_relations r
                join intermediate.int_identity_map m on m.node_key = 'external_userid:' || r.external_userid
                join ({parts}) t on t.customer_id = m.customer_id"""
        ).fetchall()
    expected: dict[tuple[str, str], set[str]] = {}
    for guide, external, group, tag in rows:
        expected.setdefault((guide, external), set()).add(tag_id[(group, tag)])
    return expected


def test_activation_exports_suppressed_free_audiences_and_writes_tags_once(
    dagbag, activation_sim, activation_env, warehouse_copy
):
    sim = activation_sim
    before = mark_tag_calls(sim)
    run_dag(dagbag, "activate_audiences")
    first_calls = mark_tag_calls(sim) - before
    assert first_calls > 100

    # WeCom now holds exactly the computed tags in siyu's groups, on every friendship, and nothing else
    # changed: the guides' own tags are still there.
    state = sim.sims.state
    managed_groups = {RFM_GROUP, STAGE_GROUP}
    groups = state.tag_groups.set_index("group_id")["group_name"].to_dict()
    managed = {t.tag_id for t in state.tags.itertuples() if groups[t.group_id] in managed_groups}
    expected = expected_tags(warehouse_copy, sim)
    actual = {key: set(tags) & managed for key, tags in state.relation_tags.items() if set(tags) & managed}
    assert actual == {key: tags for key, tags in expected.items() if tags}
    assert any(set(tags) - managed for tags in state.relation_tags.values()), "guides' own tags are kept"

    # A second run finds nothing to change.
    before = mark_tag_calls(sim)
    run_dag(dagbag, "activate_audiences")
    assert mark_tag_calls(sim) == before

    # Exports: every audience, Parquet and CSV, and no suppressed customer in any of them.
    exports = activation_env / "exports"
    with duckdb.connect(str(warehouse_copy), read_only=True) as con:
        suppressed = {r[0] for r in con.sql("select customer_id from audiences.audience_suppressions").fetchall()}
        sends = con.sql("select count(*), count(distinct customer_id) from activation.sends").fetchall()[0]
    assert suppressed, "the small world has opted-out customers"
    total = 0
    for audience in AUDIENCES:
        folder = next((exports / audience).iterdir())
        manifest = json.loads((folder / "_manifest.json").read_text())
        frame = pd.read_parquet(folder / f"{audience}.parquet")
        csv = pd.read_csv(folder / f"{audience}.csv")
        assert manifest["rows"] == len(frame) == len(csv)
        assert not set(frame["customer_id"]) & suppressed
        assert frame["customer_id"].is_unique
        total += len(frame)
    assert total > 0 and sends == (total, total), "one audience per customer, each recorded once"


def test_frequency_cap_and_suppressions_reach_the_exports(
    dagbag, activation_sim, activation_env, world_warehouse, warehouse_copy
):
    """Customers sent to on four of the last 30 days are capped: a rebuild drops them from every audience."""
    with duckdb.connect(str(warehouse_copy), read_only=True) as con:
        targets = [r[0] for r in con.sql("select customer_id from audiences.audience_assignments limit 5").fetchall()]
    with duckdb.connect(str(warehouse_copy)) as con:
        for days_ago in (1, 3, 5, 7):
            for customer in targets:
                con.execute(
                    "insert into activation.sends values (?, 'vip_care', 'wecom_1v1', date '2025-12-31' - ?::int, 't')",
                    [customer, days_ago],
                )
    lake = world_warehouse.parents[1] / "lake"
    result = dbt_build(lake, warehouse_copy, select="int_audience_suppressions+")
    assert result.success, result.failures
    with duckdb.connect(str(warehouse_copy), read_only=True) as con:
        capped = {
            r[0]
            for r in con.sql(
                "select customer_id from audiences.audience_suppressions where reason = 'frequency_cap'"
            ).fetchall()
        }
        still = con.sql(
            f"select count(*) from audiences.audience_assignments where customer_id in {tuple(targets)}"
        ).fetchall()[0][0]
        left = con.sql("select count(*) from audiences.audience_membership_changes where change = 'left'").fetchall()[
            0
        ][0]
    assert capped == set(targets) and still == 0
    assert left >= len(targets), "the capped customers left their audiences"
    run_dag(dagbag, "activate_audiences")
    exported = pd.concat(
        pd.read_parquet(p) for p in (activation_env / "exports").glob(f"*/{date(2025, 12, 31)}/*.parquet")
    )
    assert not set(exported["customer_id"]) & set(targets)


def test_exports_open_in_chinese_excel_and_name_customers_for_guides(
    small_world, warehouse_copy, tmp_path, monkeypatch
):
    """GIVEN the audiences of the small world WHEN they are exported THEN every CSV starts with a UTF-8
    byte-order mark (a zh-CN Excel otherwise decodes UTF-8 as GBK: 首单 becomes 棣栧崟) while tools still read
    `customer_id` as the first column, and the guide-facing CSV carries, for each 1:1 row, the remark the
    guide gave the customer in WeCom and a Chinese reason; SIYU_EXPORT_CSV_ENCODING=gbk writes GBK instead."""
    from siyu.activation import export_audiences

    manifests = export_audiences(warehouse_copy, tmp_path / "exports", date(2025, 12, 31), "t")
    remarks = pd.read_parquet(
        small_world / "wecom/follow_relations.parquet", columns=["userid", "external_userid", "remark"]
    )
    remark_of = {(r.userid, r.external_userid): r.remark for r in remarks.itertuples()}
    checked_remarks = 0
    for audience, manifest in manifests.items():
        folder = tmp_path / "exports" / audience / "2025-12-31"
        for name in (f"{audience}.csv", f"{audience}_导购.csv"):
            assert (folder / name).read_bytes().startswith(b"\xef\xbb\xbf"), f"{name} has no byte-order mark"
        tools = pd.read_csv(folder / f"{audience}.csv")
        assert tools.columns[0] == "customer_id" and len(tools) == manifest["rows"]
        guides = pd.read_csv(folder / f"{audience}_导购.csv", encoding="utf-8-sig", dtype=str)
        assert len(guides) == manifest["rows"]
        assert {"导购", "客户备注名", "原因", "客户ID"} <= set(guides.columns)
        assert set(guides["客户ID"]) == set(tools["customer_id"])
        for row in guides.itertuples(index=False):
            reason = row[list(guides.columns).index("原因")]
            assert any("\u4e00" <= char <= "\u9fff" for char in reason) and "orders" not in reason, reason
        one_to_one = tools.dropna(subset=["external_userid"]).merge(
            guides, left_on="customer_id", right_on="客户ID", validate="one_to_one"
        )
        for row in one_to_one.itertuples(index=False):
            expected = remark_of.get((row.guide_userid, row.external_userid))
            if expected:  # a friendship added after the last snapshot the lake holds has no remark there
                assert row.客户备注名 == expected
                checked_remarks += 1
        if audience == "order_push_3":
            assert set(guides["原因"].str.extract(r"已下(\d)单")[0]) <= {"1", "2"}
    assert checked_remarks > 50

    monkeypatch.setenv("SIYU_EXPORT_CSV_ENCODING", "gbk")
    export_audiences(warehouse_copy, tmp_path / "gbk", date(2025, 12, 31), "t", audiences=("first_order_nudge",))
    raw = (tmp_path / "gbk/first_order_nudge/2025-12-31/first_order_nudge_导购.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and "原因" in raw.decode("gbk")
