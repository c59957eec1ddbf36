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
    from siyu.sim.server import RunningSimulators

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
