"""Marts on the small world's warehouse against the world's truth and the raw lake, counted here without
the dbt models: order attribution, no_purchase, referrals, and the computed tags' periods."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def frame(warehouse, sql) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).df()


def e164(phone) -> str | None:
    digits = re.sub(r"[^0-9]", "", phone if isinstance(phone, str) else "")
    return "+86" + digits[-11:] if re.fullmatch(r"(86)?1[3-9][0-9]{9}", digits) else None


def customer_of(warehouse) -> dict[tuple[str, str], str]:
    """(id_type, id_value) -> customer_id, from the identity chain's current lookup."""
    nodes = frame(warehouse, "select id_type, id_value, customer_id from intermediate.int_customer_nodes")
    return {(row.id_type, row.id_value): row.customer_id for row in nodes.itertuples()}


def raw(warehouse, source: str, entity: str) -> pd.DataFrame:
    lake = warehouse.parents[1] / "lake"
    return frame(
        warehouse, f"select * from read_parquet('{lake}/raw/{source}/{entity}/*/*.parquet', union_by_name = true)"
    )


def person_customers(warehouse, world) -> dict[int, str]:
    """Each true person whose identifiers all landed in one customer, and that customer."""
    truth = pd.read_parquet(world / "truth/identifiers.parquet")
    customers = customer_of(warehouse)
    truth["customer_id"] = [customers.get(key) for key in zip(truth["id_type"], truth["id_value"], strict=True)]
    held = truth.dropna(subset=["customer_id"]).groupby("person_id")["customer_id"].agg(set)
    return {person: next(iter(ids)) for person, ids in held.items() if len(ids) == 1}


def test_each_order_is_attributed_to_the_guide_group_store_and_customer_its_source_names(world_warehouse):
    """Online: the shop's daogou field, else a guide's share link (source_ref), is the guide; a group link
    names the group; the buyer's shop account names the customer. In store: the receipt's store and
    salesperson, and the member card's customer, else the phone's (none for a walk-in nobody matches)."""
    customers = customer_of(world_warehouse)
    orders = (
        raw(world_warehouse, "shop", "orders").sort_values(["update_time", "dt"]).drop_duplicates("tid", keep="last")
    )
    orders = orders.replace("", None)
    guide_share = orders["source_channel"] == "guide_share"
    expected_online = pd.DataFrame(
        {
            "order_id": orders["tid"],
            "customer_expected": [customers.get(("yz_open_id", yz)) for yz in orders["yz_open_id"]],
            "guide_expected": orders["daogou"].where(orders["daogou"].notna(), orders["source_ref"].where(guide_share)),
            "chat_expected": orders["source_ref"].where(orders["source_channel"] == "group"),
            "store_expected": None,
        }
    )
    lines = raw(world_warehouse, "store", "pos_lines").replace("", None)
    receipts = lines.groupby("receipt_no").agg(
        store_id=("store_id", "min"),
        salesperson=("salesperson", "min"),
        card_no=("card_no", "min"),
        phone=("phone", "min"),
    )
    expected_store = pd.DataFrame(
        {
            "order_id": "pos:" + receipts.index,
            "customer_expected": [
                customers.get(("member_card", card)) or customers.get(("phone", e164(phone)))
                for card, phone in zip(receipts["card_no"], receipts["phone"], strict=True)
            ],
            "guide_expected": receipts["salesperson"].to_numpy(),
            "chat_expected": None,
            "store_expected": receipts["store_id"].to_numpy(),
        }
    )
    expected = pd.concat([expected_online, expected_store], ignore_index=True)
    ours = frame(world_warehouse, "select order_id, customer_id, guide_userid, chat_id, store_id from marts.fct_orders")
    both = ours.merge(expected, on="order_id", how="outer", indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"]
    for column, truth in (
        ("customer_id", "customer_expected"),
        ("guide_userid", "guide_expected"),
        ("chat_id", "chat_expected"),
        ("store_id", "store_expected"),
    ):
        differ = both[both[column].fillna("-") != both[truth].fillna("-")]
        assert differ.empty, f"{column}:\n{differ[['order_id', column, truth]]}"
    # The kinds of attribution occur: a daogou field, a group link, an unmatched walk-in. (The world's shop
    # fills daogou on every share-link order, so the fallback to source_ref is never needed here.)
    assert orders["daogou"].notna().any()
    assert both["chat_id"].notna().any() and both.loc[both["store_id"].notna(), "customer_id"].isna().any()


def test_a_customer_is_no_purchase_exactly_when_she_never_made_a_purchase(world_warehouse, small_world):
    """On the latest day of customer_segments_daily: a customer with a purchase up to that day (a paid
    order or receipt with something left after refunds, from the world's shop and the lake's till lines)
    is never no_purchase, and every other customer is."""
    customers = customer_of(world_warehouse)
    day = frame(world_warehouse, "select max(snapshot_date) as day from marts.customer_segments_daily")["day"][0]
    end = pd.Timestamp(day) + pd.Timedelta(days=1)
    shop = pd.read_parquet(small_world / "shop/orders.parquet")
    paid_at = pd.to_datetime(shop["pay_time"], unit="s", utc=True).dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    net = shop["payment_fen"] - shop["refund_fen"].fillna(0)
    shop_buyers = {customers[("yz_open_id", yz)] for yz in shop.loc[(paid_at < end) & (net > 0), "yz_open_id"]}
    lines = raw(world_warehouse, "store", "pos_lines").drop_duplicates(["receipt_no", "line_no"]).replace("", None)
    lines["amount"] = lines["amount"].astype(float)
    receipts = lines.groupby("receipt_no").agg(
        sold_at=("sold_at", "min"),
        card_no=("card_no", "min"),
        phone=("phone", "min"),
        gross=("amount", lambda amounts: amounts[amounts > 0].sum()),
        net=("amount", "sum"),
    )
    bought = receipts[(pd.to_datetime(receipts["sold_at"]) < end) & (receipts["gross"] > 0) & (receipts["net"] > 0)]
    store_buyers = {
        customers.get(("member_card", card)) or customers.get(("phone", e164(phone)))
        for card, phone in zip(bought["card_no"], bought["phone"], strict=True)
    } - {None}
    segments = frame(
        world_warehouse,
        f"select customer_id, rfm_segment from marts.customer_segments_daily where snapshot_date = '{day}'",
    )
    no_purchase = set(segments.loc[segments["rfm_segment"] == "no_purchase", "customer_id"])
    buyers = shop_buyers | store_buyers
    assert buyers and no_purchase
    assert not (buyers & no_purchase), "bought, yet no_purchase"
    assert set(segments["customer_id"]) - buyers == no_purchase, "never bought, yet scored"


def referral_pairs(warehouse, kind: str) -> set[tuple[str, str]]:
    (table,) = frame(
        warehouse,
        """select table_schema || '.' || table_name as name from information_schema.tables
           where table_name in ('int_customer_referrals', 'prep_customer_referrals')""",
    )["name"]
    pairs = frame(warehouse, f"select referrer_id, referred_id from {table} where referral_kind = '{kind}'")
    return set(zip(pairs["referrer_id"], pairs["referred_id"], strict=True))


def true_referrals(warehouse, world, channel: str) -> tuple[set[tuple[str, str]], set[str]]:
    """The world's referrals of one channel as customer pairs (persons resolved to one customer), and the
    customers of every person the identity chain did not resolve to one (left out on both sides)."""
    truth = pd.read_parquet(world / "truth/referrals.parquet")
    truth = truth[truth["channel"] == channel]
    if channel == "share_link":  # a referral counts once the order is paid
        orders = pd.read_parquet(
            world / "shop/orders.parquet", columns=["created", "pay_time", "payment_fen", "source"]
        )
        paid = orders[(orders["source"] == "referral") & orders["pay_time"].notna() & (orders["payment_fen"] > 0)]
        truth = truth[truth["at"].isin(set(paid["created"]))]
    else:  # WeCom lists a group's current members: one who joined by a poster and left is not seen
        members = pd.read_parquet(world / "wecom/group_members.parquet", columns=["chat_id", "userid", "leave_time"])
        identifiers = pd.read_parquet(world / "truth/identifiers.parquet")
        person_of = dict(zip(identifiers["id_value"], identifiers["person_id"], strict=False))
        left = members[members["leave_time"].notna()]
        gone = set(zip(left["chat_id"], left["userid"].map(person_of), strict=True))
        truth = truth[[pair not in gone for pair in zip(truth["chat_id"], truth["referred_person"], strict=True)]]
    persons = person_customers(warehouse, world)
    resolved = truth["referrer_person"].isin(persons.keys()) & truth["referred_person"].isin(persons.keys())
    pairs = {
        (persons[referrer], persons[referred])
        for referrer, referred in zip(
            truth.loc[resolved, "referrer_person"], truth.loc[resolved, "referred_person"], strict=True
        )
        if persons[referrer] != persons[referred]
    }
    return pairs, set(persons.values())


def test_share_link_referrals_are_the_people_the_world_says_were_brought_by_a_link(world_warehouse, small_world):
    """A paid order through a customer's share link (source_ref = the referrer's shop account) makes the
    buyer referred by the link's owner: the pairs equal the world's paid share-link referrals."""
    expected, resolved = true_referrals(world_warehouse, small_world, "share_link")
    ours = {pair for pair in referral_pairs(world_warehouse, "share_link") if set(pair) <= resolved}
    assert len(expected) > 100
    assert ours == expected


def test_fission_poster_referrals_are_the_people_the_world_says_joined_by_a_poster(world_warehouse, small_world):
    """A member who joined by invite link with state fx_ + the first 24 characters of a customer's
    external_userid (docs/decisions.md "Group fission") is referred by that customer: the pairs equal the
    world's fission referrals still in their group."""
    expected, resolved = true_referrals(world_warehouse, small_world, "group_fission")
    ours = {pair for pair in referral_pairs(world_warehouse, "fission_poster") if set(pair) <= resolved}
    assert len(expected) > 50
    assert ours == expected


def day_or_none(value) -> pd.Timestamp | None:
    return None if pd.isna(value) else pd.Timestamp(value)


def test_computed_tags_hold_from_the_first_day_of_each_run_to_the_next_stored_day_after_it(world_warehouse):
    """customer_tags' periods of the four daily tags, found again from customer_segments_daily: each run of
    consecutive stored days with one tag is one period, valid_from its first day, valid_to the first stored
    day after its last (null when the run reaches the latest day)."""
    groups = ("rfm_segment", "lifecycle_stage", "order_milestone", "ladder_rung")
    daily = frame(
        world_warehouse,
        f"select snapshot_date, customer_id, {', '.join(groups)} from marts.customer_segments_daily",
    )
    days = sorted(daily["snapshot_date"].unique())
    number = {day: position for position, day in enumerate(days)}
    long = daily.melt(["snapshot_date", "customer_id"], list(groups), var_name="tag_group", value_name="tag")
    long["day_number"] = long["snapshot_date"].map(number)
    long = long.sort_values(["customer_id", "tag_group", "day_number"])
    keys = ["customer_id", "tag_group"]
    changed = (long["tag"] != long.groupby(keys)["tag"].shift()) | (
        long["day_number"] != long.groupby(keys)["day_number"].shift() + 1
    )
    long["run"] = changed.groupby([long["customer_id"], long["tag_group"]]).cumsum()
    runs = long.groupby([*keys, "tag", "run"]).agg(valid_from=("snapshot_date", "min"), last=("day_number", "max"))
    runs = runs.reset_index()
    runs["valid_to"] = [days[last + 1] if last + 1 < len(days) else None for last in runs["last"]]
    expected = {
        (row.customer_id, row.tag_group, row.tag, day_or_none(row.valid_from), day_or_none(row.valid_to))
        for row in runs.itertuples()
    }
    tags = frame(
        world_warehouse,
        f"""select customer_id, tag_group, tag, valid_from, valid_to from marts.customer_tags
            where source = 'computed' and tag_group in {groups}""",
    )
    ours = {
        (
            row.customer_id,
            row.tag_group,
            row.tag,
            pd.Timestamp(row.valid_from),
            None if pd.isna(row.valid_to) else pd.Timestamp(row.valid_to),
        )
        for row in tags.itertuples()
    }
    assert len(days) > 7 and (runs["valid_to"].notna()).sum() > 100, "tags change within the stored days"
    assert ours == expected
