"""Incremental runs equal a full refresh over a multi-day replay with late data (issue 22).

A copy of the small world's lake and warehouse is built as of DAYS[0] (a full refresh), then one
incremental build a day up to DAYS[-1] (var snapshot_date), as the daily run does. Before some days' builds,
data lands late (tests/late_arrivals.py): a shop order paid days earlier, a till file a vendor sends again
with a receipt it left out, a WeCom friendship snapshot where a guide changed a friend's tags, and a full
refund of an older order. After the last day, every incremental model equals a full refresh of the same
lake as of that day, built on a copy of the same starting warehouse:

- customer_segments_daily, customer_tags and the KPI marts (KPI_MARTS: they recompute the periods that overlap
  the lookback and keep the older ones) row for row;
- int_identity_map (never wiped) in what it determines: each identifier's customer_id. customer_since,
  assigned_at and previous_customer_id record when and from what each run assigned, so they differ;
- customer_merges (appended, never rebuilt) in its merges: merged_id, into_id and reason, not merged_at
  (the run's clock);
- audience_membership_changes (an event log of runs, never rebuilt) in the membership its events describe:
  the replay logs a change on the day it happened, a full refresh all of them in its one run, so
  effective_on and changed_at differ by design.
"""

from __future__ import annotations

import json
import shutil

import duckdb
import pyarrow as pa
import pytest
from late_arrivals import add_rows, never_bought_with, query, resend_till_file, retag_friendship, shop_order

from siyu.transform import dbt_build

pytestmark = pytest.mark.integration

HISTORY_START = "2025-12-05"
DAYS = ["2025-12-19", "2025-12-20", "2025-12-21", "2025-12-22", "2025-12-23", "2025-12-24"]
ORDER_PAID_ON, RECEIPT_SOLD_ON = "2025-12-16", "2025-12-17"
ORDER_LANDS_ON, RECEIPT_LANDS_ON, RETAGGED_ON, REFUND_LANDS_ON = DAYS[2], DAYS[3], DAYS[4], DAYS[5]
# The incremental models and every model between them and the raw lake (the staging views name the lake
# they were built on, and this lake is a copy).
KPI_MARTS = [
    "kpi_triangle",
    "kpi_guides",
    "kpi_community",
    "kpi_community_summary",
    "kpi_gmv_tree",
    "kpi_gmv_new_returning",
    "kpi_stores",
    "kpi_store_categories",
]
SELECT = " ".join(["+customer_tags +audience_membership_changes customer_merges", *(f"+{kpi}" for kpi in KPI_MARTS)])

SAME_ROWS = [
    "marts.customer_segments_daily",
    "marts.customer_tags",
    *(f"marts.{kpi}" for kpi in KPI_MARTS),
    "intermediate.int_friendship_months",
]
# What a never-wiped or appended model determines, without the columns that record a run's clock.
SAME_MEANING = {
    "int_identity_map": "select node_key, customer_id from intermediate.int_identity_map",
    "customer_merges": "select merged_id, into_id, reason from marts.customer_merges",
    "audience_membership": """
        select customer_id, audience from (
            select
                customer_id,
                audience,
                change,
                row_number() over (
                    partition by customer_id, audience order by changed_at desc, change desc
                ) as event_rank
            from audiences.audience_membership_changes
        ) as events
        where event_rank = 1 and change = 'entered'""",
}


def build(lake, warehouse, snapshot, *extra):
    variables = json.dumps({"snapshot_date": snapshot, "segments_history_start": HISTORY_START})
    result = dbt_build(lake, warehouse, select=SELECT, extra_args=["--vars", variables, *extra], unit_tests=False)
    assert result.success, result.failures


def differences(incremental, full, sql):
    """Rows only the incremental warehouse has, and rows only the full refresh has (multisets)."""
    with duckdb.connect(str(incremental), read_only=True) as con:
        con.execute(f"attach '{full}' as full_refresh (read_only)")
        ours = sql
        theirs = sql.replace("from intermediate.", "from full_refresh.intermediate.")
        theirs = theirs.replace("from marts.", "from full_refresh.marts.")
        theirs = theirs.replace("from audiences.", "from full_refresh.audiences.")
        count = con.sql(f"select count(*) from ({ours})").fetchall()[0][0]
        only_ours = con.sql(f"select count(*) from ({ours} except all {theirs})").fetchall()[0][0]
        only_theirs = con.sql(f"select count(*) from ({theirs} except all {ours})").fetchall()[0][0]
    return count, only_ours, only_theirs


@pytest.fixture(scope="module")
def replay(world_warehouse, tmp_path_factory):
    """GIVEN the world stored as of DAYS[0] WHEN each later day is built incrementally, with late data
    landing before some of them THEN: the incremental warehouse, a full refresh as of the last day, and
    what landed late."""
    root = tmp_path_factory.mktemp("replay")
    lake, drops = root / "lake", root / "drops"
    shutil.copytree(world_warehouse.parents[1] / "lake", lake)
    shutil.copytree(world_warehouse.parents[1] / "drops", drops)
    incremental, full = root / "incremental" / "siyu.duckdb", root / "full" / "siyu.duckdb"
    incremental.parent.mkdir()
    full.parent.mkdir()
    shutil.copy(world_warehouse, incremental)
    shutil.copy(world_warehouse, full)
    build(lake, incremental, DAYS[0], "--full-refresh")

    late = {}
    for day in DAYS[1:]:
        if day == ORDER_LANDS_ON:
            late["order"], account = never_bought_with(incremental, "yz_open_id", DAYS[0])
            order = shop_order("E-replay-1", account, f"{ORDER_PAID_ON} 11:00:00", f"{day} 09:00:00", "199.00")
            add_rows(lake, "shop", "orders", [order], day, (ORDER_PAID_ON, day))
        if day == RECEIPT_LANDS_ON:
            late["receipt"], card = never_bought_with(incremental, "member_card", DAYS[0])
            resend_till_file(drops, lake, RECEIPT_SOLD_ON, day, card, "S0001-replay-1")
        if day == RETAGGED_ON:
            late["friend"] = retag_friendship(lake, day)
        if day == REFUND_LANDS_ON:
            # A customer whose one purchase so far is a shop order paid in the stored history: wholly refunded.
            late["refund"], order_id, amount, late["refunded_on"] = query(
                incremental,
                f"""select customer_id, min(order_id), min(net_amount), strftime(min(paid_on), '%Y-%m-%d')
                    from intermediate.prep_customer_orders
                    group by customer_id
                    having count(*) = 1 and min(channel) = 'online'
                        and min(paid_on) between '{HISTORY_START}' and '{DAYS[0]}'
                    order by 1 limit 1""",
            )[0]
            refund = {"tid": order_id, "refund_id": "R-replay-1", "refund_fee": f"{amount:.2f}", "refund_state": 2}
            add_rows(lake, "shop", "refunds", [refund | {"refund_time": f"{day} 10:00:00"}], day, (day, day))
        if day == DAYS[-1]:
            map_before = query(incremental, "select * from intermediate.int_identity_map order by node_key")
        build(lake, incremental, day)

    build(lake, full, DAYS[-1], "--full-refresh")
    return {"incremental": incremental, "full": full, "late": late, "lake": lake, "map_before": map_before}


@pytest.mark.parametrize("table", SAME_ROWS)
def test_an_incremental_model_equals_a_full_refresh_row_for_row(replay, table):
    count, only_incremental, only_full = differences(replay["incremental"], replay["full"], f"select * from {table}")
    assert count > 0
    assert (only_incremental, only_full) == (0, 0)


@pytest.mark.parametrize("what", SAME_MEANING)
def test_a_kept_history_determines_what_a_full_refresh_determines(replay, what):
    count, only_incremental, only_full = differences(replay["incremental"], replay["full"], SAME_MEANING[what])
    assert count > 0 or what == "customer_merges"
    assert (only_incremental, only_full) == (0, 0)


def test_the_identity_map_writes_only_the_rows_a_run_changed(replay):
    """Issue 22: int_identity_map computes every identifier's id each run, but a day changes few, and it
    writes only those (strategy changed_rows). A row whose id, customer_since, cluster and type are as
    before the last day's run is stored as it was, with the run that last changed it (assigned_at) and the
    id it had then; a changed or new one carries the last run's time."""
    columns = "node_key, id_type, cluster_key, customer_id, customer_since, previous_customer_id, assigned_at"
    before = {row[0]: row for row in replay["map_before"]}
    after = query(replay["incremental"], f"select {columns} from intermediate.int_identity_map")
    last_run_before = max(row[6] for row in before.values())
    unchanged = [row for row in after if row[0] in before and row[1:5] == before[row[0]][1:5]]
    assert len(after) >= len(before) and unchanged
    assert [row for row in unchanged if row != before[row[0]]] == []
    assert all(row[6] > last_run_before for row in after if row not in unchanged)


def test_the_daily_run_tests_the_days_it_may_have_written_and_a_full_refresh_every_day(replay, tmp_path):
    """Issue 22: the data tests of customer_segments_daily read the days a daily run may have written
    (var segments_revision_max_days before the latest, placeholder __revisable_from__ in macro
    get_where_subquery), not every day kept; with --full-refresh they read every day. GIVEN a row that
    breaks three tests on the first stored day, outside a 3-day window THEN the daily run's tests pass and
    a full refresh's would fail; the same row on the latest day fails the daily run's tests."""
    warehouse = tmp_path / "siyu.duckdb"
    shutil.copy(replay["incremental"], warehouse)
    variables = json.dumps({"segments_revision_max_days": 3, "segments_history_start": HISTORY_START})

    def tests_with_a_broken_row_on(day_sql, *extra):
        with duckdb.connect(str(warehouse)) as con:
            con.execute("delete from marts.customer_segments_daily where customer_id = 'C-broken'")
            con.execute(
                "insert into marts.customer_segments_daily (snapshot_date, customer_id) "
                f"select {day_sql}(snapshot_date), 'C-broken' from marts.customer_segments_daily"
            )
        args = ["--resource-type", "test", "--vars", variables, *extra]
        return dbt_build(replay["lake"], warehouse, select="customer_segments_daily", extra_args=args)

    old_day = tests_with_a_broken_row_on("min")
    latest_day = tests_with_a_broken_row_on("max")
    assert old_day.success, old_day.failures
    assert not latest_day.success
    assert any("not_null_customer_segments_daily_rfm_segment" in failure for failure in latest_day.failures)
    # A full refresh reads every day: the where clause it compiles starts at 1900 (the model itself is
    # not rebuilt: only tests are selected).
    full = tests_with_a_broken_row_on("min", "--full-refresh")
    assert not full.success


def test_the_daily_run_tests_the_snapshots_it_may_revise_and_a_full_refresh_every_day(replay, tmp_path):
    """Issue 22: the data tests of the daily WeCom snapshots read the days from segments_revision_max_days
    before the day built (placeholder __landed_from__), not every snapshot kept. GIVEN a friendship snapshot
    with one friendship twice, landed for a day before that window THEN the daily run's test passes and a full
    refresh's fails; the same snapshot on the day built fails the daily run's test."""
    import pyarrow.parquet as pq

    lake, warehouse = tmp_path / "lake", tmp_path / "siyu.duckdb"
    shutil.copytree(replay["lake"], lake)
    shutil.copy(replay["incremental"], warehouse)
    folder = lake / "raw" / "wecom" / "follow_relations"
    latest = pq.read_table(sorted(folder.glob("dt=*"))[-1] / "part-0.parquet")
    latest = latest.drop_columns(["dt"]) if "dt" in latest.schema.names else latest
    twice = latest.slice(0, 1).to_pylist() * 2
    variables = json.dumps({"snapshot_date": DAYS[-1], "segments_history_start": HISTORY_START})

    def snapshot_tests_with_a_duplicate_on(day, *extra):
        partition = folder / f"dt={day}"
        partition.mkdir()
        pq.write_table(pa.Table.from_pylist(twice, schema=latest.schema), partition / "part-0.parquet")
        # The view is built again on this lake (a view names the lake it was built on), then tested.
        args = ["--vars", variables, *extra]
        result = dbt_build(lake, warehouse, select="stg_wecom__relation_snapshots", extra_args=args, unit_tests=False)
        shutil.rmtree(partition)
        return result

    old_day = snapshot_tests_with_a_duplicate_on("2025-01-02")
    assert old_day.success, old_day.failures
    full = snapshot_tests_with_a_duplicate_on("2025-01-02", "--full-refresh")
    assert any("unique_combination_of_columns_stg_wecom__relation_snapshots" in failure for failure in full.failures)
    # A day inside the window without a snapshot of its own.
    recent = next(day for day in reversed(DAYS) if not (folder / f"dt={day}").exists())
    assert not snapshot_tests_with_a_duplicate_on(recent).success


def test_an_incremental_kpi_run_keeps_the_periods_before_its_lookback(replay, tmp_path):
    """GIVEN the replayed warehouse with a marker in kpi_gmv_tree's first month and in December (inside the
    lookback) WHEN the KPI marts are built again incrementally THEN the first month keeps its marker (it was
    not recomputed) and December is computed again."""
    warehouse = tmp_path / "siyu.duckdb"
    shutil.copy(replay["incremental"], warehouse)
    marked = "from marts.kpi_gmv_tree where period_grain = 'month' and channel = 'all'"
    first_month = query(warehouse, f"select strftime(min(period_start), '%Y-%m-%d') {marked}")[0][0]
    months = (first_month, "2025-12-01")
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update marts.kpi_gmv_tree set gmv = -1 where period_grain = 'month' and period_start in {months}")
    variables = json.dumps({"snapshot_date": DAYS[-1], "segments_history_start": HISTORY_START})
    # The models only: the marker breaks the GMV tree's data test, which is not what this test is about.
    only_models = ["--vars", variables, "--exclude-resource-type", "test"]
    result = dbt_build(replay["lake"], warehouse, select=" ".join(KPI_MARTS), extra_args=only_models, unit_tests=False)
    assert result.success, result.failures
    gmv = dict(query(warehouse, f"select strftime(period_start, '%Y-%m-%d'), gmv {marked}"))
    assert first_month < "2025-11-01"
    assert gmv[first_month] == -1
    assert gmv["2025-12-01"] > 0


def test_the_friendship_months_before_the_lookback_are_kept_as_stored(replay, tmp_path):
    """Issue 22: int_friendship_months folds the daily WeCom snapshots by month and a run folds again only the
    months from the one holding the latest stored day less segments_revision_max_days. GIVEN the replayed
    warehouse with a marker on every state of the first month and of December WHEN the model is built again
    incrementally THEN the first month keeps its marker (its snapshots were not read again) and December is
    folded again from its snapshots."""
    warehouse = tmp_path / "siyu.duckdb"
    shutil.copy(replay["incremental"], warehouse)
    table = "intermediate.int_friendship_months"
    first_month = query(warehouse, f"select strftime(min(snapshot_month), '%Y-%m-%d') from {table}")[0][0]
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f"update {table} set remark_name = 'marker' where snapshot_month in ('{first_month}', '2025-12-01')"
        )
    variables = json.dumps({"snapshot_date": DAYS[-1], "segments_history_start": HISTORY_START})
    only_models = ["--vars", variables, "--exclude-resource-type", "test"]
    result = dbt_build(
        replay["lake"], warehouse, select="int_friendship_months", extra_args=only_models, unit_tests=False
    )
    assert result.success, result.failures
    marked = dict(
        query(
            warehouse,
            f"""select strftime(snapshot_month, '%Y-%m-%d'), count(*) filter (where remark_name = 'marker')
                from {table} group by 1""",
        )
    )
    assert first_month < "2025-11-01"
    assert marked[first_month] > 0
    assert marked["2025-12-01"] == 0


def tag_periods(warehouse, customer_id, tag_group):
    return query(
        warehouse,
        f"""select tag, strftime(valid_from, '%Y-%m-%d'), strftime(valid_to, '%Y-%m-%d') from marts.customer_tags
            where customer_id = '{customer_id}' and tag_group = '{tag_group}' order by valid_from, tag""",
    )


@pytest.mark.parametrize(("kind", "bought_on"), [("order", ORDER_PAID_ON), ("receipt", RECEIPT_SOLD_ON)])
def test_a_late_purchase_closes_the_no_purchase_period_on_its_day(replay, kind, bought_on):
    periods = tag_periods(replay["incremental"], replay["late"][kind], "rfm_segment")
    assert periods[0][0] == "no_purchase" and periods[0][2] == bought_on, periods
    assert periods[1][0] != "no_purchase" and periods[1][1] == bought_on, periods


def test_a_late_full_refund_leaves_the_customer_never_having_bought(replay):
    periods = tag_periods(replay["incremental"], replay["late"]["refund"], "rfm_segment")
    assert periods == [("no_purchase", periods[0][1], None)], periods


def test_a_changed_wecom_tag_opens_a_period_on_the_snapshot_day(replay):
    opened = query(
        replay["incremental"],
        f"""select count(*) from marts.customer_tags as tags
            inner join intermediate.int_customer_nodes as nodes
                on tags.customer_id = nodes.customer_id and nodes.id_type = 'external_userid'
            where nodes.id_value = '{replay["late"]["friend"]}' and tags.source = 'wecom'
                and tags.valid_from = '{RETAGGED_ON}'""",
    )[0][0]
    assert opened == 1


def test_a_period_that_still_holds_is_one_row_not_split_at_a_run(replay):
    """No period ends on the day another of the same tag starts: a run continues what held before it."""
    split = query(
        replay["incremental"],
        """select count(*) from marts.customer_tags as earlier
           inner join marts.customer_tags as later
               on earlier.customer_id = later.customer_id and earlier.source = later.source
               and earlier.tag_group = later.tag_group and earlier.tag = later.tag
               and earlier.valid_to = later.valid_from""",
    )[0][0]
    assert split == 0
