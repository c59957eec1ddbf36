"""Shop ingestion: orders by update time with a lookback for late updates, their line items and
refunds, and the buyers' account links (users.info.query)."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from siyu.config import SHOP_LOOKBACK_DAYS
from siyu.connectors.youzan import YouzanClient, parse
from siyu.ingest.run_day import RunDay
from siyu.lake import MANIFEST, partition_dir, table_from_rows, write_partition

log = logging.getLogger(__name__)
SOURCE = "shop"
USERS_PROGRESS_EVERY = 10_000  # a backfill looks up every buyer once: say how far it got
# users.info.query is one call per buyer. A buyer looked up in an earlier day's partition within this many
# days is not asked again (her links are in the lake already); after it, she is asked again, so a phone or
# unionid bound later still arrives. A rerun of the same day asks again for the same buyers (its own
# partition is replaced, never counted as seen).
USERS_REFRESH_DAYS = 30

SCHEMAS = {
    "orders": pa.schema(
        [
            ("tid", pa.string()),
            ("status", pa.string()),
            ("created", pa.string()),
            ("update_time", pa.string()),
            ("pay_time", pa.string()),
            ("consign_time", pa.string()),
            ("success_time", pa.string()),
            ("refund_state", pa.int16()),
            ("yz_open_id", pa.string()),
            ("buyer_phone", pa.string()),
            ("outer_user_id", pa.string()),
            ("total_fee", pa.string()),
            ("post_fee", pa.string()),
            ("payment", pa.string()),
            ("wx_entrance", pa.string()),
            ("source_channel", pa.string()),
            ("source_ref", pa.string()),
            ("daogou", pa.string()),
        ]
    ),
    "order_items": pa.schema(
        [
            ("tid", pa.string()),
            ("oid", pa.string()),
            ("item_id", pa.int64()),
            ("sku_id", pa.int64()),
            ("outer_sku_id", pa.string()),
            ("title", pa.string()),
            ("category", pa.string()),
            ("num", pa.int32()),
            ("price", pa.string()),
            ("total_fee", pa.string()),
            ("payment", pa.string()),
        ]
    ),
    "refunds": pa.schema(
        [
            ("tid", pa.string()),
            ("refund_id", pa.string()),
            ("refund_fee", pa.string()),
            ("refund_state", pa.int16()),
            ("refund_time", pa.string()),
        ]
    ),
    "users": pa.schema(
        [
            ("yz_open_id", pa.string()),
            ("nick_name", pa.string()),
            ("mobile", pa.string()),
            ("union_id", pa.string()),
            ("weixin_open_id", pa.string()),
        ]
    ),
}
ENTITIES = tuple(SCHEMAS)


# What identifies a row of each entity: a later pull of the same day replaces the rows it brings again.
KEYS = {"orders": "tid", "order_items": "tid", "refunds": "tid", "users": "yz_open_id"}


def _with_earlier_pulls(lake: Path, entity: str, dt: str, table: pa.Table, window: tuple) -> tuple[pa.Table, tuple]:
    """This pull's rows plus the rows an earlier pull landed in the same day's partition that this one did
    not bring again (by KEYS: an order it pulled again comes in its new state, with its new lines and
    refunds), and the two windows joined. A history pull (conf start/end: a year) lands in the run day's
    partition; the day's scheduled run, a retry or a rerun then adds to it instead of replacing a year of
    orders and buyers with one day's."""
    folder = partition_dir(lake, "raw", SOURCE, entity, dt)
    path = folder / "part-0.parquet"
    if not path.exists():
        return table, window
    earlier = pq.read_table(path)
    earlier = earlier.select([name for name in table.schema.names]).cast(table.schema)
    key = KEYS[entity]
    kept = earlier.filter(pc.invert(pc.is_in(earlier[key], value_set=table[key])))
    try:
        landed = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["window"]
        window = (
            min(str(landed["start"]), str(window[0]), key=_number),
            max(str(landed["end"]), str(window[1]), key=_number),
        )
    except (OSError, ValueError, KeyError):
        pass
    if kept.num_rows:
        log.info("shop: %s %s keeps %d rows an earlier pull of the day landed", entity, dt, kept.num_rows)
    return pa.concat_tables([kept, table]), window


def _number(value: str):
    """A window bound as landed: unix seconds as text, or a date; numbers compare as numbers."""
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def pull_orders(
    client: YouzanClient,
    lake: Path,
    run: RunDay,
    window: tuple[int, int] | None = None,
    lookback_days: int = SHOP_LOOKBACK_DAYS,
) -> dict[str, int]:
    """Orders updated in [run day - lookback, end of run day] (or an explicit backfill window), into the
    run day's partition; each order once, with its latest state. Orders an earlier pull of the same day
    landed and this one did not see again are kept (_with_earlier_pulls)."""
    start, end = window or (run.start_ts - lookback_days * 86_400, run.end_ts - 1)
    orders, items, refunds = {}, {}, {}
    for full in client.orders_updated(start, end):
        info = full["order_info"]
        tid = info["tid"]
        if tid in orders and orders[tid]["update_time"] >= info["update_time"]:
            continue
        source = full.get("source_info", {})
        orders[tid] = {
            **info,
            **full["buyer_info"],
            **full["pay_info"],
            "wx_entrance": source.get("source", {}).get("wx_entrance", ""),
            "source_channel": source.get("source_channel", ""),
            "source_ref": source.get("source_ref", ""),
            "daogou": info.get("order_extra", {}).get("daogou", ""),
        }
        items[tid] = [{**line, "tid": tid} for line in full.get("orders", [])]
        refunds[tid] = [{**refund, "tid": tid} for refund in full.get("refund_order", [])]
    log.info("shop: %d orders updated between %s and %s", len(orders), start, end)
    counts = {}
    for entity, rows in (
        ("orders", list(orders.values())),
        ("order_items", [r for v in items.values() for r in v]),
        ("refunds", [r for v in refunds.values() for r in v]),
    ):
        table, landed_window = _with_earlier_pulls(
            lake, entity, run.dt, table_from_rows(SCHEMAS[entity], rows), (str(start), str(end))
        )
        counts[entity] = write_partition(lake, SOURCE, entity, run.dt, table, run_id=run.run_id, window=landed_window)[
            "rows"
        ]
    return counts


def recently_looked_up(lake: Path, run: RunDay, refresh_days: int = USERS_REFRESH_DAYS) -> set[str]:
    """Buyers whose account links were landed by an earlier day's run within `refresh_days` before the
    run day. The run day's own partition is never counted: a rerun of the day replaces it."""
    first = (date.fromisoformat(run.dt) - timedelta(days=refresh_days)).isoformat()
    seen: set[str] = set()
    for folder in sorted((Path(lake) / "raw" / SOURCE / "users").glob("dt=*")):
        day = folder.name.removeprefix("dt=")
        if first <= day < run.dt:
            for path in folder.glob("*.parquet"):
                seen.update(v for v in pq.read_table(path, columns=["yz_open_id"]).column(0).to_pylist() if v)
    return seen


def pull_users(
    client: YouzanClient,
    lake: Path,
    run: RunDay,
    yz_open_ids: list[str],
    refresh_days: int = USERS_REFRESH_DAYS,
) -> dict[str, int]:
    """Account links for the buyers seen in this run that no earlier day looked up within `refresh_days`:
    yz_open_id ↔ mobile, unionid, openid."""
    users = []
    wanted = set(yz_open_ids)
    known = recently_looked_up(lake, run, refresh_days) & wanted
    buyers = sorted(wanted - known)
    log.info(
        "shop: %d buyers in this run, %d looked up within %d days, %d to look up",
        len(wanted),
        len(known),
        refresh_days,
        len(buyers),
    )
    for number, yz_open_id in enumerate(buyers, start=1):
        if number % USERS_PROGRESS_EVERY == 0:
            log.info("shop: looked up %d of %d buyers", number, len(buyers))
        for user in client.user(yz_open_id=yz_open_id):
            users.append(
                {
                    "yz_open_id": user["primitive_info"]["yz_open_id"],
                    "nick_name": user["primitive_info"].get("nick_name"),
                    "mobile": user.get("mobile_info", {}).get("mobile") or None,
                    "union_id": user.get("wechat_info", {}).get("union_id") or None,
                    "weixin_open_id": user.get("platform_info", {}).get("weixin_open_id") or None,
                }
            )
    table, landed_window = _with_earlier_pulls(
        lake, "users", run.dt, table_from_rows(SCHEMAS["users"], users), run.window()
    )
    manifest = write_partition(lake, SOURCE, "users", run.dt, table, run_id=run.run_id, window=landed_window)
    return {"users": manifest["rows"], "users_known": len(known)}


def window_from_conf(conf: dict) -> tuple[int, int] | None:
    """A backfill window from the run's conf: {"start": "2025-01-01 00:00:00", "end": "..."}."""
    if conf.get("start") and conf.get("end"):
        return parse(conf["start"]), parse(conf["end"])
    return None
