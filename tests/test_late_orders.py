"""Late data against the incremental customer_segments_daily (issue 22).

Days up to STORED_UNTIL are stored incrementally. Then three things arrive on LANDS_ON that belong to days
already stored, each by the path a brand's data takes: a till file of SOLD_ON that a vendor sends late
(UTF-8 with a byte-order mark, CRLF, as Excel writes it), loaded by the store ingestion into SOLD_ON's
partition; a shop order paid on SOLD_ON that the pull of LANDS_ON brings (the pull that should have seen
it failed); and a full refund, on LANDS_ON, of a shop order paid before STORED_UNTIL. The next
incremental run (to LATER) must revise the days they belong to: its table equals a full refresh of the
same lake, and each of the three customers' days changed from the day of the purchase on."""

from __future__ import annotations

import json
import shutil

import duckdb
import pyarrow.parquet as pq
import pytest
from late_arrivals import add_rows, never_bought_with, query, resend_till_file, shop_order

from siyu.transform import dbt_build

pytestmark = pytest.mark.integration

HISTORY_START, SOLD_ON, STORED_UNTIL, LANDS_ON, LATER = (
    "2025-12-10",
    "2025-12-15",
    "2025-12-20",
    "2025-12-24",
    "2025-12-25",
)
# The daily table and the models between it and the raw lake. The staging views are rebuilt too: a view
# names the lake it was built on, and the warehouse here is a copy reading a copy of the lake.
SELECT = "stg_store__pos_lines stg_shop__orders stg_shop__refunds stg_shop__order_items 2+customer_segments_daily"


def build(lake, warehouse, snapshot, *extra):
    variables = json.dumps({"snapshot_date": snapshot, "segments_history_start": HISTORY_START})
    result = dbt_build(lake, warehouse, select=SELECT, extra_args=["--vars", variables, *extra])
    assert result.success, result.failures


def daily(warehouse, customer_id):
    return dict(
        query(
            warehouse,
            f"""select strftime(snapshot_date, '%Y-%m-%d'), rfm_segment from marts.customer_segments_daily
                where customer_id = '{customer_id}' order by snapshot_date""",
        )
    )


@pytest.fixture(scope="module")
def late_data(world_warehouse, tmp_path_factory):
    """GIVEN days up to STORED_UNTIL stored incrementally WHEN a receipt, a shop order and a full refund
    land on LANDS_ON for days already stored, and the table is brought to LATER incrementally THEN: the
    incremental table, a full refresh of the same lake, and the three customers."""
    root = tmp_path_factory.mktemp("late")
    lake = root / "lake"
    shutil.copytree(world_warehouse.parents[1] / "lake", lake)
    incremental, full = root / "incremental" / "siyu.duckdb", root / "full" / "siyu.duckdb"
    incremental.parent.mkdir()
    shutil.copy(world_warehouse, incremental)
    build(lake, incremental, STORED_UNTIL, "--full-refresh")

    receipt_customer, card = never_bought_with(incremental, "member_card", STORED_UNTIL)
    # The vendor's late file beside the drops already loaded; the store ingestion of LANDS_ON loads it.
    drops = root / "drops"
    shutil.copytree(world_warehouse.parents[1] / "drops", drops)
    resend_till_file(drops, lake, SOLD_ON, LANDS_ON, card, "S0001-late-1")
    landed = pq.read_table(lake / "raw" / "store" / "pos_lines" / f"dt={SOLD_ON}" / "part-0.parquet")
    receipts = landed.column("receipt_no").to_pylist()
    assert "S0001-late-1" in receipts, "the store ingestion files it under its day"
    assert sum(receipt.startswith("S0001-") and receipt != "S0001-late-1" for receipt in receipts) > 0

    order_customer, account = never_bought_with(incremental, "yz_open_id", STORED_UNTIL)
    order = shop_order("E-late-1", account, f"{SOLD_ON} 11:00:00", f"{LANDS_ON} 09:00:00", "199.00")
    add_rows(lake, "shop", "orders", [order], LANDS_ON, (SOLD_ON, LANDS_ON))

    # A customer whose one purchase so far is a shop order paid after HISTORY_START: wholly refunded.
    refund_customer, refunded_order, amount, refunded_day = query(
        incremental,
        f"""select customer_id, min(order_id), min(net_amount), strftime(min(paid_on), '%Y-%m-%d')
            from intermediate.prep_customer_orders
            where paid_on <= '{LATER}'
            group by customer_id
            having count(*) = 1 and min(channel) = 'online'
                and min(paid_on) between '{HISTORY_START}' and '{STORED_UNTIL}'
            order by 1 limit 1""",
    )[0]
    refund = {"tid": refunded_order, "refund_id": "R-late-1", "refund_fee": f"{amount:.2f}", "refund_state": 2}
    add_rows(lake, "shop", "refunds", [refund | {"refund_time": f"{LANDS_ON} 10:00:00"}], LANDS_ON, (SOLD_ON, LANDS_ON))

    customers = {"receipt": receipt_customer, "order": order_customer, "refund": refund_customer}
    before = {kind: daily(incremental, customer) for kind, customer in customers.items()}
    build(lake, incremental, LATER)
    full.parent.mkdir()
    shutil.copy(incremental, full)
    build(lake, full, LATER, "--full-refresh")
    return {
        "incremental": incremental,
        "full": full,
        "customers": customers,
        "refunded_day": refunded_day,
        "before": before,
        "after": {kind: daily(incremental, customer) for kind, customer in customers.items()},
    }


def test_an_incremental_run_after_late_data_equals_a_full_refresh(late_data):
    table = "marts.customer_segments_daily"
    with duckdb.connect(str(late_data["incremental"]), read_only=True) as con:
        con.execute(f"attach '{late_data['full']}' as full_refresh (read_only)")
        rows = con.sql(f"select count(*) from {table}").fetchall()[0][0]
        only_incremental = con.sql(
            f"select count(*) from (select * from {table} except all select * from full_refresh.{table})"
        ).fetchall()[0][0]
        only_full = con.sql(
            f"select count(*) from (select * from full_refresh.{table} except all select * from {table})"
        ).fetchall()[0][0]
    assert rows > 0
    assert (only_incremental, only_full) == (0, 0)


@pytest.mark.parametrize("kind", ["receipt", "order"])
def test_a_late_purchase_revises_the_days_from_its_sale_on(late_data, kind):
    before, after = late_data["before"][kind], late_data["after"][kind]
    assert set(before.values()) == {"no_purchase"} and len(before) == 11
    for day, segment in after.items():
        if day < SOLD_ON:
            assert segment == "no_purchase", (day, segment)
        else:
            assert segment != "no_purchase", (day, segment)


def test_a_late_full_refund_revises_the_days_from_its_payment_on(late_data):
    before, after, refunded_day = late_data["before"]["refund"], late_data["after"]["refund"], late_data["refunded_day"]
    assert before[refunded_day] != "no_purchase"
    assert all(segment == "no_purchase" for day, segment in after.items()), after
    assert refunded_day in after
