"""Data that lands after the days it belongs to, by the paths a brand's data takes (issue 22): rows a late
shop pull adds to a day's partition, a till file a vendor sends again with a receipt it left out, and a
WeCom friendship snapshot whose tags a guide changed. Shared by tests/test_late_orders.py and
tests/test_incremental_replay.py."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from siyu.connectors.store_files import SCHEMAS as FILE_SCHEMAS
from siyu.ingest.run_day import RunDay
from siyu.ingest.store import ingest_files
from siyu.lake import write_partition


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


def add_rows(lake: Path, source: str, entity: str, rows: list[dict], lands_on: str, window: tuple[str, str]) -> None:
    """Rows added to the lands_on partition of an entity (created when there is none), as a late pull or a
    late file lands them; `window` is the source window the partition's manifest records."""
    path = lake / "raw" / source / entity / f"dt={lands_on}" / "part-0.parquet"
    landed = pq.read_table(path) if path.exists() else None
    if landed is not None and "dt" in landed.schema.names:
        landed = landed.drop_columns(["dt"])
    schema = (
        landed.schema
        if landed is not None
        else pq.read_schema(next((lake / "raw" / source / entity).glob("dt=*/part-0.parquet")))
    )
    schema = pa.schema([field for field in schema if field.name != "dt"])
    late = pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)
    table = late if landed is None else pa.concat_tables([landed, late])
    write_partition(lake, source, entity, lands_on, table, run_id="late", window=window)


def shop_order(tid: str, yz_open_id: str, paid_at: str, updated_at: str, amount: str) -> dict:
    """A paid Youzan order as the shop pull lands it."""
    order = {"tid": tid, "status": "TRADE_SUCCESS", "created": paid_at, "update_time": updated_at}
    order |= {"pay_time": paid_at, "consign_time": "", "success_time": "", "refund_state": 0, "yz_open_id": yz_open_id}
    order |= {"buyer_phone": "", "outer_user_id": "", "total_fee": amount, "post_fee": "0.00", "payment": amount}
    return order | {"wx_entrance": "direct_buy", "source_channel": "", "source_ref": "", "daogou": ""}


def resend_till_file(drops: Path, lake: Path, sold_on: str, lands_on: str, card: str, receipt_no: str) -> None:
    """The vendor re-sends store S0001's till file of sold_on with a 300-yuan receipt on the member card it
    left out (UTF-8 with a byte-order mark, CRLF, as Excel writes it); the store ingestion of lands_on files
    it under sold_on's partition."""
    line = {"receipt_no": receipt_no, "line_no": "1", "store_id": "S0001", "sold_at": f"{sold_on} 15:00:00"}
    line |= {"card_no": card, "phone": "", "salesperson": "", "sku": "SKU-00001", "category": "护肤"}
    line |= {"qty": "1", "unit_price": "300.00", "amount": "300.00"}
    original = (drops / "pos" / "S0001" / f"pos_S0001_{sold_on}.csv").read_bytes()
    try:
        day_file = original.decode("utf-8-sig")
    except UnicodeDecodeError:
        day_file = original.decode("gb18030")
    header = list(FILE_SCHEMAS["pos"])
    text = day_file.rstrip("\r\n").replace("\r\n", "\n").replace("\n", "\r\n")
    text += "\r\n" + ",".join(line[column] for column in header) + "\r\n"
    (drops / "pos" / "S0001" / f"pos_S0001_{sold_on}_resend.csv").write_bytes(text.encode("utf-8-sig"))
    ingest_files(drops, lake, RunDay(date.fromisoformat(lands_on), "late-store"))


def never_bought_with(warehouse: Path, id_type: str, as_of: str) -> tuple[str, str]:
    """A customer with an identifier of the type who has not bought by as_of, and the identifier."""
    return query(
        warehouse,
        f"""select segments.customer_id, min(nodes.id_value)
            from marts.customer_segments_daily as segments
            inner join intermediate.int_customer_nodes as nodes
                on segments.customer_id = nodes.customer_id and nodes.id_type = '{id_type}'
            where segments.snapshot_date = '{as_of}' and segments.rfm_segment = 'no_purchase'
            group by 1 order by 1 limit 1""",
    )[0]


def retag_friendship(lake: Path, snapshot_on: str) -> str:
    """A friendship snapshot of snapshot_on, the latest earlier one with the first friendship's tags
    changed: its first tag removed and a tag it did not have added. Returns the friend's external_userid."""
    partitions = sorted((lake / "raw" / "wecom" / "follow_relations").glob("dt=*"))
    earlier = [path for path in partitions if path.name < f"dt={snapshot_on}"][-1]
    relations = pq.read_table(earlier / "part-0.parquet")
    if "dt" in relations.schema.names:
        relations = relations.drop_columns(["dt"])
    rows = relations.to_pylist()
    every_tag = sorted({tag for row in rows for tag in row["tag_ids"] or []})
    friend = next(row for row in rows if row["tag_ids"])
    friend["tag_ids"] = [*friend["tag_ids"][1:], next(tag for tag in every_tag if tag not in friend["tag_ids"])]
    table = pa.Table.from_pylist(rows, schema=relations.schema)
    write_partition(
        lake, "wecom", "follow_relations", snapshot_on, table, run_id="retag", window=(snapshot_on, snapshot_on)
    )
    return friend["external_userid"]
