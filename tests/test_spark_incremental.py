"""Incremental runs on Spark equal a full refresh, with late data (issues 21 and 22).

On Spark the incremental models use what a Parquet table allows: customer_segments_daily overwrites the
day partitions a run recomputes (insert_overwrite, partition_by snapshot_date), int_identity_map rewrites
itself from a copy of its previous rows, customer_merges and audience_membership_changes append, and
customer_tags is rebuilt (macro keyed_history_materialization). A copy of the small world's lake is built
on Spark as of DAYS[0], then incrementally each later day, with a shop order paid days earlier landing
before DAYS[1] and a till receipt and a full refund of an older order landing before DAYS[2]. After the
last day, each incremental model equals a full Spark build of the same lake as of DAYS[2] (as
tests/test_incremental_replay.py checks on DuckDB, with the same run-time columns left out).

Each build runs in its own process (a JVM and a Derby metastore per Spark folder), which writes the
compared tables to Parquet."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from late_arrivals import add_rows, never_bought_with, query, resend_till_file, shop_order
from test_spark_build import rows

pytestmark = [pytest.mark.integration, pytest.mark.spark]

HISTORY_START = "2025-12-10"
DAYS = ["2025-12-20", "2025-12-21", "2025-12-22"]
ORDER_PAID_ON, RECEIPT_SOLD_ON = "2025-12-16", "2025-12-17"
SELECT = "+customer_tags +audience_membership_changes customer_merges"
TABLES = (
    "customer_segments_daily",
    "customer_tags",
    "int_identity_map",
    "customer_merges",
    "audience_membership_changes",
)

BUILD = """
import json, os, sys
from pathlib import Path
os.environ["SIYU_ENGINE"] = "spark"
from siyu.transform import dbt_build
from siyu.warehouse import open_warehouse
lake, folder, out = map(Path, sys.argv[1:4])
variables, select, tables = json.loads(sys.argv[4]), sys.argv[5], json.loads(sys.argv[6])
# Only tests whose every parent is selected: a fresh Spark folder has none of the other models.
extra = ["--indirect-selection", "cautious"] + (["--full-refresh"] if sys.argv[7] == "full" else [])
result = dbt_build(lake, folder, select=select, dbt_vars=variables, extra_args=extra, unit_tests=False)
print(json.dumps({"success": result.success, "failures": result.failures}))
if result.success:
    with open_warehouse(folder) as warehouse:
        for name in tables:
            warehouse.read(name).to_parquet(out / f"{name}.parquet")
"""


def spark_build(lake: Path, folder: Path, snapshot: str, full: bool = False) -> dict[str, pd.DataFrame]:
    out = folder.parent / f"{folder.name}-{snapshot}"
    out.mkdir()
    variables = {"snapshot_date": snapshot, "segments_history_start": HISTORY_START}
    environment = {**os.environ, "SIYU_SPARK_DIR": str(folder)}
    args = [str(lake), str(folder), str(out), json.dumps(variables), SELECT, json.dumps(TABLES)]
    done = subprocess.run(
        [sys.executable, "-c", BUILD, *args, "full" if full else "incremental"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    summary = [line for line in done.stdout.splitlines() if line.startswith('{"success"')]
    assert done.returncode == 0 and summary, done.stderr[-4000:]
    outcome = json.loads(summary[-1])
    assert outcome["success"], outcome["failures"]
    return {name: pd.read_parquet(out / f"{name}.parquet") for name in TABLES}


@pytest.fixture(scope="module")
def replay(world_warehouse, tmp_path_factory):
    root = tmp_path_factory.mktemp("spark-replay")
    lake, drops = root / "lake", root / "drops"
    shutil.copytree(world_warehouse.parents[1] / "lake", lake)
    shutil.copytree(world_warehouse.parents[1] / "drops", drops)
    # Customers are named by the DuckDB build of the same lake: the ids are the same on both engines.
    late = {}
    spark_build(lake, root / "incremental", DAYS[0])
    late["order"], account = never_bought_with(world_warehouse, "yz_open_id", DAYS[0])
    order = shop_order("E-spark-1", account, f"{ORDER_PAID_ON} 11:00:00", f"{DAYS[1]} 09:00:00", "199.00")
    add_rows(lake, "shop", "orders", [order], DAYS[1], (ORDER_PAID_ON, DAYS[1]))
    spark_build(lake, root / "incremental", DAYS[1])
    late["receipt"], card = never_bought_with(world_warehouse, "member_card", DAYS[0])
    resend_till_file(drops, lake, RECEIPT_SOLD_ON, DAYS[2], card, "S0001-spark-1")
    late["refund"], order_id, amount = query(
        world_warehouse,
        f"""select customer_id, min(order_id), min(net_amount) from intermediate.prep_customer_orders
            group by customer_id
            having count(*) = 1 and min(channel) = 'online' and min(paid_on) between '{HISTORY_START}' and '{DAYS[0]}'
            order by 1 limit 1""",
    )[0]
    refund = {"tid": order_id, "refund_id": "R-spark-1", "refund_fee": f"{amount:.2f}", "refund_state": 2}
    add_rows(lake, "shop", "refunds", [refund | {"refund_time": f"{DAYS[2]} 10:00:00"}], DAYS[2], (DAYS[2], DAYS[2]))
    incremental = spark_build(lake, root / "incremental", DAYS[2])
    full = spark_build(lake, root / "full", DAYS[2], full=True)
    return {"incremental": incremental, "full": full, "late": late}


def membership(events: pd.DataFrame) -> list[tuple[str, ...]]:
    """Who is in which audience after the events: the last event of each customer and audience is 'entered'."""
    ordered = events.sort_values(["changed_at", "change"], ascending=[False, False])
    last = ordered.drop_duplicates(["customer_id", "audience"])
    return rows(last[last["change"] == "entered"], ["customer_id", "audience"])


@pytest.mark.parametrize("table", ["customer_segments_daily", "customer_tags"])
def test_an_incremental_model_equals_a_full_refresh_row_for_row(replay, table):
    incremental, full = replay["incremental"][table], replay["full"][table]
    assert len(full) > 0
    columns = sorted(full.columns)
    assert rows(incremental, columns) == rows(full, columns)


@pytest.mark.parametrize(
    ("table", "columns"),
    [("int_identity_map", ["node_key", "customer_id"]), ("customer_merges", ["merged_id", "into_id", "reason"])],
)
def test_a_kept_history_determines_what_a_full_refresh_determines(replay, table, columns):
    assert rows(replay["incremental"][table], columns) == rows(replay["full"][table], columns)
    assert len(replay["full"]["int_identity_map"]) > 1000


def test_audience_membership_is_what_a_full_refresh_says(replay):
    theirs = membership(replay["full"]["audience_membership_changes"])
    assert theirs and membership(replay["incremental"]["audience_membership_changes"]) == theirs


@pytest.mark.parametrize(("kind", "bought_on"), [("order", ORDER_PAID_ON), ("receipt", RECEIPT_SOLD_ON)])
def test_a_late_purchase_revises_the_days_it_belongs_to(replay, kind, bought_on):
    daily = replay["incremental"]["customer_segments_daily"]
    days = daily[daily["customer_id"] == replay["late"][kind]].copy()
    days["day"] = pd.to_datetime(days["snapshot_date"]).dt.strftime("%Y-%m-%d")
    before, after = days[days["day"] < bought_on], days[days["day"] >= bought_on]
    assert len(before) and len(after)
    assert set(before["rfm_segment"]) == {"no_purchase"}
    assert "no_purchase" not in set(after["rfm_segment"]), after[["day", "rfm_segment"]]


def test_a_late_full_refund_leaves_the_customer_never_having_bought(replay):
    daily = replay["incremental"]["customer_segments_daily"]
    segments = set(daily.loc[daily["customer_id"] == replay["late"]["refund"], "rfm_segment"])
    assert segments == {"no_purchase"}
