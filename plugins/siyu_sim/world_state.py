"""A generated world loaded for serving: indexes the simulators query, a movable clock, and the corp
tags that mark_tag changes."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def credentials(world: dict) -> dict:
    """The secrets the simulated services accept. Derived from the world so tests and the demo can
    configure connections; a real deployment takes them from Airflow connections."""
    seed = world["seed"]
    return {
        "corp_id": world["corp_id"],
        "corp_secret": f"sim-wecom-secret-{seed}",
        "youzan_client_id": f"sim-youzan-client-{seed}",
        "youzan_client_secret": f"sim-youzan-secret-{seed}",
        "youzan_kdt_id": str(world["youzan_kdt_id"]),
    }


@dataclass
class WorldState:
    root: Path
    meta: dict
    now: int  # the simulated clock, unix seconds
    lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def load(cls, root: Path | str, now: int | None = None) -> WorldState:
        root = Path(root)
        meta = json.loads((root / "world.json").read_text(encoding="utf-8"))
        return cls(root=root, meta=meta, now=int(now if now is not None else meta["end_ts"] - 1))

    def read(self, relative: str) -> pd.DataFrame:
        return pd.read_parquet(self.root / relative)

    def set_clock(self, now: int) -> None:
        with self.lock:
            self.now = int(now)
            for cached in ("_live_relations", "_orders_as_of", "_queries"):
                self.__dict__.pop(cached, None)

    @property
    def today_start(self) -> int:
        """00:00 China time of the clock's day."""
        return self.meta["start_ts"] + (self.now - self.meta["start_ts"]) // 86_400 * 86_400

    # ---- WeCom ---------------------------------------------------------------------------------
    @cached_property
    def staff(self) -> pd.DataFrame:
        return self.read("wecom/staff.parquet").set_index("userid", drop=False)

    def active_userids(self) -> list[str]:
        resigned = self.staff["resigned_at"]
        return self.staff.index[resigned.isna() | (resigned > self.now)].tolist()

    @cached_property
    def relations(self) -> pd.DataFrame:
        rel = self.read("wecom/follow_relations.parquet")
        rel["ended_at"] = rel["ended_at"].fillna(2**62).astype(np.int64)  # never ended
        return rel

    @cached_property
    def relation_tags(self) -> dict[tuple[str, str], list[str]]:
        """(userid, external_userid) → corp tag ids; mark_tag edits this."""
        rel = self.relations
        return {(u, e): list(t) for u, e, t in zip(rel["userid"], rel["external_userid"], rel["tag_ids"], strict=True)}

    def _live_relation_frame(self) -> pd.DataFrame:
        rel = self.relations
        resigned_at = self.staff["resigned_at"].reindex(rel["userid"]).to_numpy()
        guide_active = np.isnan(resigned_at) | (resigned_at > self.now)
        live = (rel["createtime"].to_numpy() <= self.now) & (rel["ended_at"].to_numpy() > self.now) & guide_active
        return rel[live].sort_values(["userid", "createtime", "external_userid"], kind="stable")

    @property
    def live_relations(self) -> pd.DataFrame:
        with self.lock:
            if "_live_relations" not in self.__dict__:
                self.__dict__["_live_relations"] = self._live_relation_frame()
            return self.__dict__["_live_relations"]

    @cached_property
    def contact_records(self) -> dict[str, dict]:
        """external_userid → the contact as plain Python values (one lookup per served contact)."""
        return {r["external_userid"]: r for r in self.read("wecom/external_contacts.parquet").to_dict("records")}

    def cached_query(self, key: tuple, compute):
        """A query result kept until the clock moves: paged endpoints compute the whole result once and
        serve every page of it, instead of recomputing it per page."""
        with self.lock:
            queries = self.__dict__.setdefault("_queries", {})
            if key not in queries:
                if len(queries) > 64:
                    queries.clear()
                queries[key] = compute()
            return queries[key]

    @cached_property
    def tag_groups(self) -> pd.DataFrame:
        return self.read("wecom/tag_groups.parquet")

    @cached_property
    def tags(self) -> pd.DataFrame:
        return self.read("wecom/tags.parquet").set_index("tag_id", drop=False)

    @cached_property
    def groups(self) -> pd.DataFrame:
        return self.read("wecom/groups.parquet").set_index("chat_id", drop=False)

    @cached_property
    def group_members(self) -> dict[str, pd.DataFrame]:
        members = self.read("wecom/group_members.parquet")
        return {chat_id: frame for chat_id, frame in members.groupby("chat_id", sort=False)}

    def group_owner(self, chat: pd.Series) -> tuple[str, int]:
        """The owner as of the clock, and the groupchat/list status (0 normal, 1 owner resigned,
        3 inheritance done)."""
        changed = chat["owner_changed_at"]
        if pd.notna(changed) and changed <= self.now:
            return chat["new_owner"], 3
        resigned = self.staff.loc[chat["owner"], "resigned_at"]
        if pd.notna(resigned) and resigned <= self.now:
            return chat["owner"], 1
        return chat["owner"], 0

    @cached_property
    def contact_ways(self) -> pd.DataFrame:
        return self.read("wecom/contact_ways.parquet").set_index("config_id", drop=False)

    @cached_property
    def transfers(self) -> pd.DataFrame:
        return self.read("wecom/transfers.parquet")

    @cached_property
    def behaviour(self) -> pd.DataFrame:
        return self.read("wecom/user_behavior_daily.parquet")

    @cached_property
    def group_statistic(self) -> pd.DataFrame:
        return self.read("wecom/group_statistic_daily.parquet")

    # ---- Youzan --------------------------------------------------------------------------------
    @cached_property
    def orders(self) -> pd.DataFrame:
        return self.read("shop/orders.parquet")

    @cached_property
    def order_items(self) -> dict[str, list[dict]]:
        """tid → its line items as plain Python values, in file order."""
        by_tid: dict[str, list[dict]] = {}
        for item in self.read("shop/order_items.parquet").to_dict("records"):
            by_tid.setdefault(item["tid"], []).append(item)
        return by_tid

    @cached_property
    def shop_users(self) -> pd.DataFrame:
        return self.read("shop/users.parquet")

    @cached_property
    def shop_user_records(self) -> list[dict]:
        return self.shop_users.to_dict("records")

    def shop_user_rows(self, column: str) -> dict[str, list[int]]:
        """Row positions of shop users by a lookup column, built once per column."""
        index = self.__dict__.setdefault("_shop_user_index", {})
        if column not in index:
            rows: dict[str, list[int]] = {}
            for position, value in enumerate(self.shop_users[column]):
                if pd.notna(value):
                    rows.setdefault(value, []).append(position)
            index[column] = rows
        return index[column]

    def orders_as_of(self) -> pd.DataFrame:
        """Every order visible at the clock with its status and update time then."""
        with self.lock:
            if "_orders_as_of" not in self.__dict__:
                self.__dict__["_orders_as_of"] = order_status_at(self.orders, self.now)
            return self.__dict__["_orders_as_of"]


ORDER_EXPIRY_SECONDS = 1800  # an unpaid order closes after 30 minutes


def order_status_at(orders: pd.DataFrame, now: int) -> pd.DataFrame:
    """Youzan order status and update_time as of `now`, from the order's event times."""
    visible = orders[orders["created"] <= now].copy()
    big = 2**62

    def happened(column: str) -> np.ndarray:
        values = visible[column].fillna(big).astype(np.int64).to_numpy()
        return np.where(values <= now, values, -1)

    paid, consigned, succeeded, refunded = (
        happened(c) for c in ("pay_time", "consign_time", "success_time", "refund_time")
    )
    created = visible["created"].to_numpy()
    expired_at = created + ORDER_EXPIRY_SECONDS
    closed_unpaid = (paid < 0) & (expired_at <= now)
    full_refund = (refunded >= 0) & (visible["refund_fen"].to_numpy() >= visible["payment_fen"].to_numpy())
    status = np.select(
        [closed_unpaid, full_refund, succeeded >= 0, consigned >= 0, paid >= 0],
        ["TRADE_CLOSED", "TRADE_CLOSED", "TRADE_SUCCESS", "WAIT_BUYER_CONFIRM_GOODS", "WAIT_SELLER_SEND_GOODS"],
        default="WAIT_BUYER_PAY",
    )
    visible["status"] = status
    visible["refund_state"] = np.where(refunded >= 0, np.where(full_refund, 12, 2), 0)
    visible["update_time"] = np.maximum.reduce(
        [created, paid, consigned, succeeded, refunded, np.where(closed_unpaid, expired_at, -1)]
    )
    for column, values in (
        ("pay_time", paid),
        ("consign_time", consigned),
        ("success_time", succeeded),
        ("refund_time", refunded),
    ):
        visible[column] = values
    visible["expired_time"] = expired_at
    return visible
