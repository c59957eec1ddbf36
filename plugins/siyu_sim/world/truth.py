"""The truth folder: which identifiers belong to whom, who serves whom, referral chains and the
headline numbers later stages must reproduce. Nothing in the pipeline reads it to compute results."""

from __future__ import annotations

import numpy as np
import pandas as pd

from siyu_sim.world.spec import CHINA_TZ


def month_of(ts: np.ndarray) -> np.ndarray:
    return pd.to_datetime(np.asarray(ts), unit="s", utc=True).tz_convert(CHINA_TZ).strftime("%Y-%m").to_numpy()


def identifiers(pairs: list[tuple[str, str, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """(source, id_type, values, person) groups into one distinct table. A value can belong to several
    persons (a counter phone): each pair is kept."""
    frames = [
        pd.DataFrame({"source": source, "id_type": id_type, "id_value": values, "person_id": person})
        for source, id_type, values, person in pairs
    ]
    out = pd.concat(frames, ignore_index=True)
    out = out[out["id_value"].astype(str) != ""]
    return out.drop_duplicates().sort_values(["id_type", "id_value", "person_id", "source"]).reset_index(drop=True)


def gmv_by_channel_month(orders: pd.DataFrame, pos: pd.DataFrame) -> pd.DataFrame:
    """Online: paid orders by pay month, refunds by refund month. Store: positive lines are sales,
    negative lines (returns) are refunds, by sale month. Amounts in yuan, buyers are true persons."""
    paid = orders[orders["pay_time"].notna()]
    online = (
        paid.assign(month=month_of(paid["pay_time"].astype(np.int64)))
        .groupby("month")
        .agg(gmv_fen=("payment_fen", "sum"), orders=("tid", "size"), buyers=("person", "nunique"))
    )
    refunded = orders[orders["refund_time"].notna()]
    online_refunds = (
        refunded.assign(month=month_of(refunded["refund_time"].astype(np.int64))).groupby("month")["refund_fen"].sum()
    )
    online = online.join(online_refunds, how="outer").fillna(0).assign(channel="online")
    pos = pos.assign(month=month_of(pos["ts"]))
    sales = pos[pos["amount_fen"] > 0]
    store = sales.groupby("month").agg(
        gmv_fen=("amount_fen", "sum"), orders=("receipt_no", "nunique"), buyers=("person", "nunique")
    )
    store_refunds = -pos[pos["amount_fen"] < 0].groupby("month")["amount_fen"].sum().rename("refund_fen")
    store = store.join(store_refunds, how="outer").fillna(0).assign(channel="store")
    out = pd.concat([online, store]).reset_index()
    for column in ("gmv_fen", "refund_fen", "orders", "buyers"):
        out[column] = out[column].astype(np.int64)
    out["gmv"] = out["gmv_fen"] / 100
    out["refunds"] = out["refund_fen"] / 100
    out["net_gmv"] = (out["gmv_fen"] - out["refund_fen"]) / 100
    return (
        out[["channel", "month", "gmv", "refunds", "net_gmv", "orders", "buyers"]]
        .sort_values(["channel", "month"])
        .reset_index(drop=True)
    )


def group_speakers_by_month(messages: pd.DataFrame) -> pd.DataFrame:
    """Per group and month: distinct external members who sent at least one message, and all messages."""
    group_msgs = messages[messages["roomid"] != ""]
    group_msgs = group_msgs.assign(month=month_of(group_msgs["msgtime"] // 1000))
    external = group_msgs[~group_msgs["from"].str.startswith("guide")]
    speakers = external.groupby(["roomid", "month"])["from"].nunique().rename("speakers")
    total = group_msgs.groupby(["roomid", "month"]).size().rename("messages")
    out = pd.concat([speakers, total], axis=1).fillna(0).astype(np.int64).reset_index()
    return out.rename(columns={"roomid": "chat_id"})
