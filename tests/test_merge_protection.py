"""Merge protection by evidence of sharing, not by volume (issue 16): a store's counter phone typed for
walk-ins is left out of matching; a loyal customer's own phone on 300 receipts is not, and her receipts
keep her customer."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest
from test_identity import build, ids, member, write_lake

pytestmark = pytest.mark.integration
COUNTER = "13500000001"
LOYAL = "13912345678"


def receipt(number: int, phone: str, card: str = "", day: int = 0) -> dict:
    sold = datetime(2025, 1, 1, 11) + timedelta(days=day, minutes=number % 500)
    return {
        "receipt_no": f"S0001-{number}",
        "line_no": "1",
        "store_id": "S0001",
        "sold_at": sold.strftime("%Y-%m-%d %H:%M:%S"),
        "card_no": card,
        "phone": phone,
        "salesperson": "",
        "sku": "SKU-1",
        "category": "x",
        "qty": "1",
        "unit_price": "99.00",
        "amount": "99.00",
    }


def excluded(warehouse) -> dict[str, str]:
    with duckdb.connect(str(warehouse)) as con:
        return dict(con.sql("select id_value_hash, reason from marts.identity_excluded_values").fetchall())


def receipts_with_a_customer(warehouse, phone_digits: str) -> int:
    with duckdb.connect(str(warehouse)) as con:
        return con.sql(f"""
            select count(distinct orders.order_id)
            from marts.fct_orders as orders
            inner join staging.stg_store__pos_lines as lines on orders.order_id = 'pos:' || lines.receipt_id
            where lines.phone_e164 = '+86{phone_digits}' and orders.customer_id is not null""").fetchall()[0][0]


def test_a_counter_phone_typed_for_50_walk_ins_is_excluded_and_a_300_receipt_customer_is_not(tmp_path):
    """GIVEN a store that lists its counter phone (var identity_shared_phones) and typed it on 50 walk-ins'
    receipts, 5 a day, and a member who bought 300 times giving her own phone only (no card)
    WHEN identity resolves
    THEN the counter phone is out of matching with the reason, and the loyal customer's phone is a node of
    her customer, and every one of her 300 receipts carries her customer_id."""
    lake, warehouse = tmp_path / "lake", tmp_path / "wh" / "siyu.duckdb"
    walk_ins = [receipt(i, COUNTER, day=i // 5) for i in range(50)]
    loyal = [receipt(1000 + i, LOYAL, day=i) for i in range(300)]
    write_lake(lake, members=[member("M1", LOYAL)], receipts=[*walk_ins, *loyal])
    build(lake, warehouse, "--vars", f"{{identity_shared_phones: ['{COUNTER}']}}")

    mapping = ids(warehouse)
    assert f"phone:+86{COUNTER}" not in mapping
    assert list(excluded(warehouse).values()) == ["a known store or staff phone (identity_shared_phones)"]
    assert mapping[f"phone:+86{LOYAL}"] == mapping["member_card:M1"]
    assert receipts_with_a_customer(warehouse, LOYAL) == 300
    assert receipts_with_a_customer(warehouse, COUNTER) == 0


def test_a_counter_phone_on_members_receipts_is_excluded_by_the_cards_it_links(tmp_path):
    """GIVEN a counter phone typed on 50 walk-in receipts, four of them members whose card was scanned
    WHEN no phone is listed
    THEN the four cards it links (over the phone limit of three) are the evidence, and it is excluded."""
    lake, warehouse = tmp_path / "lake", tmp_path / "wh" / "siyu.duckdb"
    cards = {i: f"M{i}" for i in (3, 17, 29, 41)}
    walk_ins = [receipt(i, COUNTER, card=cards.get(i, ""), day=i // 5) for i in range(50)]
    members = [member(card, f"1370000000{n}") for n, card in enumerate(cards.values())]
    write_lake(lake, members=members, receipts=walk_ins)
    build(lake, warehouse)

    mapping = ids(warehouse)
    assert f"phone:+86{COUNTER}" not in mapping
    assert list(excluded(warehouse).values()) == ["links 4 strong identifiers (limit 3)"]
    assert len({mapping[f"member_card:{card}"] for card in cards.values()}) == 4
