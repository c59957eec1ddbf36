"""Tags and segments on the small world's warehouse: coverage, history, and the daily table's incremental
runs against a full refresh."""

from __future__ import annotations

import json

import duckdb
import pytest

from siyu.transform import dbt_build

pytestmark = pytest.mark.integration


def query(warehouse, sql):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_every_customer_is_in_exactly_one_segment_stage_rung_and_persona(world_warehouse):
    customers = query(world_warehouse, "select count(*) from marts.dim_customers")[0][0]
    for table in ("customer_rfm", "customer_lifecycle", "customer_ladder", "customer_personas"):
        rows, distinct = query(world_warehouse, f"select count(*), count(distinct customer_id) from marts.{table}")[0]
        assert rows == distinct == customers, table
    segments = dict(query(world_warehouse, "select rfm_segment, count(*) from marts.customer_rfm group by 1"))
    stages = dict(query(world_warehouse, "select lifecycle_stage, count(*) from marts.customer_lifecycle group by 1"))
    assert len(segments) == 9, segments  # the 8 classes and no_purchase all occur in a year of trade
    assert set(stages) == {"introduction", "growth", "maturity", "dormant", "churned"}
    # Buyers are scored; everyone else is no_purchase, and is a fan or a member who never bought.
    buyers = query(world_warehouse, "select count(distinct customer_id) from intermediate.prep_customer_orders")[0][0]
    assert customers - segments["no_purchase"] == buyers


def test_tags_keep_one_open_period_per_group_for_computed_tags(world_warehouse):
    doubles = query(
        world_warehouse,
        """select customer_id, tag_group from marts.customer_tags
           where source = 'computed' and valid_to is null group by 1, 2 having count(*) > 1""",
    )
    assert doubles == []
    sources = {row[0] for row in query(world_warehouse, "select distinct source from marts.customer_tags")}
    assert sources == {"computed", "wecom", "store"}
    # The current RFM tag agrees with customer_rfm.
    disagree = query(
        world_warehouse,
        """select count(*) from marts.customer_rfm
           join marts.customer_tags using (customer_id)
           where tag_group = 'rfm_segment' and valid_to is null and tag != rfm_segment""",
    )[0][0]
    assert disagree == 0


def test_clv_ranks_active_repeat_buyers_above_churned_ones(world_warehouse):
    mature, churned = query(
        world_warehouse,
        """select avg(case when lifecycle_stage = 'maturity' then expected_purchases end),
                  avg(case when lifecycle_stage = 'churned' then expected_purchases end)
           from marts.customer_clv join marts.customer_lifecycle using (customer_id)""",
    )[0]
    assert mature > 2 * churned
    (buyers,) = query(world_warehouse, "select count(distinct customer_id) from intermediate.prep_customer_orders")[0]
    (rows, bad) = query(
        world_warehouse,
        "select count(*), count(*) filter (where not probability_alive between 0 and 1) from marts.customer_clv",
    )[0]
    assert rows == buyers and bad == 0


def test_daily_segments_built_incrementally_equal_a_full_refresh(world_warehouse, warehouse_copy):
    lake = world_warehouse.parents[1] / "lake"

    def build(snapshot, *extra):
        variables = json.dumps({"snapshot_date": snapshot, "segments_history_start": "2025-12-10"})
        args = ["--vars", variables, *extra]
        result = dbt_build(lake, warehouse_copy, select="customer_segments_daily", extra_args=args)
        assert result.success, result.failures

    def rows():
        return query(warehouse_copy, "select * from marts.customer_segments_daily order by snapshot_date, customer_id")

    build("2025-12-20", "--full-refresh")
    assert query(warehouse_copy, "select count(distinct snapshot_date) from marts.customer_segments_daily") == [(11,)]
    build("2025-12-25")
    build("2025-12-31")
    incremental = rows()
    build("2025-12-31", "--full-refresh")
    full = rows()
    assert len(full) > 0 and incremental == full
    assert query(warehouse_copy, "select count(distinct snapshot_date) from marts.customer_segments_daily") == [(22,)]
