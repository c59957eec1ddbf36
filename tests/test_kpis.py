"""KPI marts on the small world's warehouse, checked against the world's truth and their own invariants."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def frame(warehouse, sql) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).df()


def test_online_gmv_and_buyers_by_month_equal_the_truth(world_warehouse, small_world):
    truth = pd.read_parquet(small_world / "truth/gmv_by_channel_month.parquet")
    ours = frame(
        world_warehouse,
        """select strftime(period_start, '%Y-%m') as month, gmv, buyers, orders from marts.kpi_gmv_tree
           where period_grain = 'month' and channel = 'online'""",
    ).set_index("month")
    online = truth[truth["channel"] == "online"].set_index("month")
    assert ours["gmv"].astype(float).round(2).to_dict() == online["gmv"].round(2).to_dict()
    assert ours["orders"].to_dict() == online["orders"].to_dict()
    # Each shop account is one person, so buyers are exact as long as no two buyers were merged wrongly.
    assert ours["buyers"].to_dict() == online["buyers"].to_dict()


def test_store_gmv_equals_the_truth_less_the_lines_set_aside(world_warehouse, small_world):
    truth = pd.read_parquet(small_world / "truth/gmv_by_channel_month.parquet")
    ours = frame(
        world_warehouse,
        "select sum(gmv) as gmv from marts.kpi_gmv_tree where period_grain = 'month' and channel = 'store'",
    )["gmv"].iloc[0]
    lake = world_warehouse.parents[1] / "lake"
    quarantined = frame(
        world_warehouse,
        f"""select raw from read_parquet('{lake}/quarantine/store/pos_lines/*/*.parquet')
            where reason like '%sold_at%'""",
    )
    # A line set aside in a truncated file is set aside again in its resend: count each (receipt, line) once.
    lines = {tuple(raw.split(",")[:2]): float(raw.split(",")[-1]) for raw in quarantined["raw"]}
    amounts = list(lines.values())
    set_aside = sum(a for a in amounts if a > 0)
    assert len(amounts) > 0
    assert float(ours) + set_aside == pytest.approx(truth[truth["channel"] == "store"]["gmv"].sum(), abs=0.01)


def test_group_speakers_by_month_equal_the_truth(world_warehouse, small_world):
    truth = pd.read_parquet(small_world / "truth/group_speakers_by_month.parquet")
    ours = frame(
        world_warehouse,
        """select chat_id, strftime(period_start, '%Y-%m') as month, speakers, messages from marts.kpi_community
           where period_grain = 'month' and messages > 0""",
    )
    merged = truth.merge(ours, on=["chat_id", "month"], how="outer", suffixes=("_truth", ""))
    assert len(merged) == len(truth) > 0
    assert (merged["speakers"] == merged["speakers_truth"]).all()
    assert (merged["messages"] == merged["messages_truth"]).all()


def test_invariants_and_grades(world_warehouse):
    tree = frame(world_warehouse, "select * from marts.kpi_gmv_tree where uv is not null and orders > 0")
    product = tree["uv"] * tree["conversion"] * tree["aov"] * tree["purchase_frequency"]
    assert ((product - tree["gmv"].astype(float)).abs() < 0.01).all()
    split = frame(world_warehouse, "select * from marts.kpi_gmv_new_returning")
    total = split["new_gmv"].astype(float) + split["returning_gmv"].astype(float)
    assert ((total - split["gmv"].astype(float)).abs() < 0.005).all()
    # Every group has exactly one grade in every period from its creation on.
    grades = frame(
        world_warehouse,
        """select g.chat_id, count(*) as periods, count(distinct k.period_start) as distinct_periods
           from staging.stg_wecom__groups g join marts.kpi_community k using (chat_id)
           where k.period_grain = 'month' group by 1""",
    )
    assert (grades["periods"] == grades["distinct_periods"]).all()
    assert len(grades) == frame(world_warehouse, "select count(*) as n from staging.stg_wecom__groups")["n"].iloc[0]
    spread = frame(world_warehouse, "select distinct grade from marts.kpi_community where period_grain = 'month'")
    assert {"ungraded"} < set(spread["grade"])
    triangle = frame(
        world_warehouse, "select * from marts.kpi_triangle where period_grain = 'month' and store_id = 'all'"
    )
    assert len(triangle) == 12 and (triangle["triangle_area"] > 0).all()
