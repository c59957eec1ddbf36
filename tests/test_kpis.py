"""KPI marts on the small world's warehouse, checked against the world's truth and against sales counted
again here, from the world's shop and the lake's till lines, without the dbt models: every stored factor
of the GMV tree, who is new and who returning, and the store dashboard."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pytest

pytestmark = pytest.mark.integration

CHINA = "Asia/Shanghai"


def frame(warehouse, sql) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).df()


def e164(phone) -> str | None:
    digits = re.sub(r"[^0-9]", "", phone or "")
    return "+86" + digits[-11:] if re.fullmatch(r"(86)?1[3-9][0-9]{9}", digits) else None


def local_time(epoch_seconds: pd.Series) -> pd.Series:
    return pd.to_datetime(epoch_seconds, unit="s", utc=True).dt.tz_convert(CHINA).dt.tz_localize(None)


def sales_counted_again(warehouse, world) -> pd.DataFrame:
    """Every paid order, one row each: channel, order id, buyer, paid_at, amount. Online from the world's
    shop (paid: a pay time and something paid); in store from the till lines the lake holds (each
    (receipt, line) once; paid: positive lines summing above 0). The buyer is the customer the identity
    chain gave the shop account, the member card or else the phone, and a receipt nobody could be
    matched to counts one buyer of its own."""
    nodes = frame(warehouse, "select id_type, id_value, customer_id from intermediate.int_customer_nodes")
    customer_of = {(row.id_type, row.id_value): row.customer_id for row in nodes.itertuples()}

    orders = pd.read_parquet(world / "shop/orders.parquet")
    orders = orders[orders["pay_time"].notna() & (orders["payment_fen"] > 0)]
    online = pd.DataFrame(
        {
            "channel": "online",
            "order_id": orders["tid"],
            "buyer": [customer_of[("yz_open_id", yz)] for yz in orders["yz_open_id"]],
            "paid_at": local_time(orders["pay_time"]),
            "amount": orders["payment_fen"] / 100,
        }
    )

    lake = warehouse.parents[1] / "lake"
    lines = frame(
        warehouse,
        f"""select distinct on (receipt_no, line_no) receipt_no, line_no, sold_at, card_no, phone, amount
            from read_parquet('{lake}/raw/store/pos_lines/*/*.parquet', union_by_name = true)""",
    )
    lines["amount"] = lines["amount"].astype(float)
    receipts = lines.groupby("receipt_no").agg(
        sold_at=("sold_at", "min"),
        card_no=("card_no", "min"),
        phone=("phone", "min"),
        amount=("amount", lambda amounts: amounts[amounts > 0].sum()),
    )
    receipts = receipts[receipts["amount"] > 0].reset_index()
    buyers = [
        customer_of.get(("member_card", card)) or customer_of.get(("phone", e164(phone))) or f"receipt:{receipt}"
        for receipt, card, phone in zip(receipts["receipt_no"], receipts["card_no"], receipts["phone"], strict=True)
    ]
    in_store = pd.DataFrame(
        {
            "channel": "store",
            "order_id": "pos:" + receipts["receipt_no"],
            "buyer": buyers,
            "paid_at": pd.to_datetime(receipts["sold_at"]),
            "amount": receipts["amount"].round(2),
        }
    )
    sales = pd.concat([online, in_store], ignore_index=True)
    sales = pd.concat([sales, sales.assign(channel="all")], ignore_index=True)
    sales["month"] = sales["paid_at"].dt.strftime("%Y-%m")
    return sales


@pytest.fixture(scope="module")
def sales(world_warehouse, small_world) -> pd.DataFrame:
    return sales_counted_again(world_warehouse, small_world)


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


def test_every_factor_of_the_gmv_tree_equals_the_sales_and_visits_counted_again(world_warehouse, small_world, sales):
    """UV, buyers, orders and GMV by month and channel counted from the world's visits and sales, and
    each stored factor (conversion, AOV, purchase frequency) against the ratio of those counts: a factor
    computed from the wrong count (orders for buyers, a visit for a visitor, a day's wrong month) fails."""
    visits = pd.read_parquet(small_world / "shop/visits.parquet")
    visits["month"] = local_time(visits["visit_time"]).dt.strftime("%Y-%m")
    uv = visits.groupby("month")["visitor_id"].nunique().rename("uv_expected")
    expected = sales.groupby(["channel", "month"]).agg(
        buyers_expected=("buyer", "nunique"), orders_expected=("order_id", "size"), gmv_expected=("amount", "sum")
    )
    expected = expected.reset_index().merge(uv.reset_index().assign(channel="online"), how="left")
    tree = frame(
        world_warehouse,
        """select channel, strftime(period_start, '%Y-%m') as month, uv, buyers, orders, gmv, conversion, aov,
                  purchase_frequency
           from marts.kpi_gmv_tree where period_grain = 'month'""",
    )
    both = tree.merge(expected, on=["channel", "month"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"]
    assert set(both["channel"]) == {"online", "store", "all"} and len(both) == 36
    assert (both["buyers"] == both["buyers_expected"]).all()
    assert (both["orders"] == both["orders_expected"]).all()
    assert both["gmv"].astype(float).round(2).tolist() == both["gmv_expected"].round(2).tolist()
    online = both[both["channel"] == "online"]
    assert (online["uv"] == online["uv_expected"]).all() and (online["uv"] > online["buyers"]).all()
    assert both.loc[both["channel"] != "online", "uv"].isna().all(), "stores count no visitors"
    assert online["conversion"].tolist() == pytest.approx((online["buyers_expected"] / online["uv_expected"]).tolist())
    aov_expected = both["gmv_expected"] / both["orders_expected"]
    assert both["aov"].astype(float).tolist() == pytest.approx(aov_expected.tolist())
    assert both["purchase_frequency"].tolist() == pytest.approx(
        (both["orders_expected"] / both["buyers_expected"]).tolist()
    )


def test_new_and_returning_buyers_are_those_whose_first_purchase_falls_in_the_month(world_warehouse, sales):
    """Each buyer's first paid order, found here per channel (any channel for 'all'): in its month the
    buyer is new, with all that month's sales; in later months returning."""
    first_month = sales.groupby(["channel", "buyer"])["month"].min().rename("first_month").reset_index()
    marked = sales.merge(first_month, on=["channel", "buyer"])
    marked["is_new"] = marked["month"] == marked["first_month"]
    expected = (
        marked.groupby(["channel", "month"])
        .apply(
            lambda rows: pd.Series(
                {
                    "new_buyers_expected": rows.loc[rows["is_new"], "buyer"].nunique(),
                    "returning_buyers_expected": rows.loc[~rows["is_new"], "buyer"].nunique(),
                    "new_gmv_expected": round(rows.loc[rows["is_new"], "amount"].sum(), 2),
                    "returning_gmv_expected": round(rows.loc[~rows["is_new"], "amount"].sum(), 2),
                }
            ),
            include_groups=False,
        )
        .reset_index()
    )
    split = frame(
        world_warehouse,
        """select channel, strftime(period_start, '%Y-%m') as month, new_buyers, returning_buyers, new_gmv,
                  returning_gmv
           from marts.kpi_gmv_new_returning where period_grain = 'month'""",
    )
    both = split.merge(expected, on=["channel", "month"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all() and len(both) == 36
    assert (both["returning_buyers_expected"] > 0).any(), "the world has repeat buyers"
    for measure in ("new_buyers", "returning_buyers"):
        assert (both[measure] == both[f"{measure}_expected"]).all(), both[["channel", "month", measure]]
    for measure in ("new_gmv", "returning_gmv"):
        assert both[measure].astype(float).round(2).tolist() == both[f"{measure}_expected"].tolist()


def test_store_dashboard_equals_the_till_lines_counted_again(world_warehouse, sales):
    """kpi_stores by store and month against the lake's till lines: sales and returns (positive and
    negative lines), receipts, buyers, and the members' share (a receipt with a card, or whose customer
    holds one)."""
    lake = world_warehouse.parents[1] / "lake"
    lines = frame(
        world_warehouse,
        f"""select distinct on (receipt_no, line_no) receipt_no, store_id, sold_at, card_no, cast(amount as double)
                   as amount
            from read_parquet('{lake}/raw/store/pos_lines/*/*.parquet', union_by_name = true)""",
    )
    receipts = lines.groupby("receipt_no").agg(
        store_id=("store_id", "min"),
        card_no=("card_no", "min"),
        sales=("amount", lambda amounts: amounts[amounts > 0].sum()),
        returns=("amount", lambda amounts: -amounts[amounts < 0].sum()),
    )
    receipts.index = "pos:" + receipts.index
    store = sales[sales["channel"] == "store"].set_index("order_id").join(receipts)
    members = frame(
        world_warehouse,
        """select distinct customer_id from intermediate.int_customer_nodes where id_type = 'member_card'""",
    )["customer_id"]
    store["is_member"] = (store["card_no"].fillna("") != "") | store["buyer"].isin(set(members))
    expected = (
        store.groupby(["store_id", "month"])
        .apply(
            lambda rows: pd.Series(
                {
                    "sales_expected": round(rows["sales"].sum(), 2),
                    "returns_expected": round(rows["returns"].sum(), 2),
                    "receipts_expected": len(rows),
                    "buyers_expected": rows["buyer"].nunique(),
                    "member_buyers_expected": rows.loc[rows["is_member"], "buyer"].nunique(),
                    "member_sales_expected": round(rows.loc[rows["is_member"], "sales"].sum(), 2),
                }
            ),
            include_groups=False,
        )
        .reset_index()
    )
    dashboard = frame(
        world_warehouse,
        """select store_id, strftime(period_start, '%Y-%m') as month, sales, returns, receipts, buyers,
                  member_buyers, member_sales
           from marts.kpi_stores where period_grain = 'month'""",
    )
    both = dashboard.merge(expected, on=["store_id", "month"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all() and len(both) > 12
    assert (both["returns_expected"] > 0).any() and (both["member_buyers_expected"] < both["buyers_expected"]).any()
    for measure in ("receipts", "buyers", "member_buyers"):
        assert (both[measure] == both[f"{measure}_expected"]).all(), measure
    for measure in ("sales", "returns", "member_sales"):
        assert both[measure].astype(float).round(2).tolist() == both[f"{measure}_expected"].tolist(), measure


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


def test_every_group_has_one_grade_a_month_and_the_triangle_a_year_of_months(world_warehouse):
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
