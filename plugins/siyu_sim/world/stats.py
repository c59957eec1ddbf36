"""The statistics WeCom reports, derived only from relations, groups and messages, so they agree."""

from __future__ import annotations

import numpy as np
import pandas as pd

from siyu_sim.world.community import Groups, Members, Messages, owner_at
from siyu_sim.world.spec import DAY_SECONDS, WorldSpec
from siyu_sim.world.wecom import Relations


def _day(spec: WorldSpec, ts: np.ndarray) -> np.ndarray:
    return (np.asarray(ts) - spec.start_ts) // DAY_SECONDS


def user_behavior_daily(spec: WorldSpec, rel: Relations, chats: Messages, rng: np.random.Generator) -> pd.DataFrame:
    """get_user_behavior_data per guide and day. A chat is one (guide, customer, day) conversation; it
    counts in chat_cnt when the guide sent in it, and in the reply figures when the customer spoke first."""
    from_guide = chats.sender_guide >= 0
    frame = pd.DataFrame(
        {
            "guide": np.where(from_guide, chats.sender_guide, chats.peer_guide),
            "person": np.where(from_guide, chats.peer_person, chats.sender_person),
            "from_guide": from_guide,
            "ts": chats.msgtime_ms,
        }
    )
    frame["day"] = _day(spec, frame["ts"] // 1000)
    frame = frame.sort_values(["guide", "person", "day", "ts"], kind="stable")
    keys = ["guide", "person", "day"]
    conversations = frame.groupby(keys, sort=False).agg(
        first_from_guide=("from_guide", "first"), first_ts=("ts", "first")
    )
    guide_msgs = frame[frame["from_guide"]]
    conversations = conversations.join(
        guide_msgs.groupby(keys, sort=False)["ts"].min().rename("guide_ts")
    ).reset_index()
    started = conversations[~conversations["first_from_guide"]]
    started = started.assign(
        replied=started["guide_ts"].notna(), reply_minutes=(started["guide_ts"] - started["first_ts"]) / 60000.0
    )
    daily = guide_msgs.groupby(["guide", "day"]).agg(chat_cnt=("person", "nunique"), message_cnt=("ts", "size"))
    replies = started.groupby(["guide", "day"]).agg(
        started=("replied", "size"), replied=("replied", "sum"), avg_reply_time=("reply_minutes", "mean")
    )
    added = pd.DataFrame({"guide": rel.guide, "day": _day(spec, rel.createtime)})[rel.add_way != 202]
    new_contact = added.groupby(["guide", "day"]).size().rename("new_contact_cnt")
    lost = pd.DataFrame({"guide": rel.guide, "day": _day(spec, rel.ended_at)})[rel.end_reason == "deleted_by_customer"]
    negative = lost.groupby(["guide", "day"]).size().rename("negative_feedback_cnt")
    out = daily.join(replies, how="outer").join(new_contact, how="outer").join(negative, how="outer").reset_index()
    out = out[(out["day"] >= 0) & (out["day"] < spec.days)]
    for column in ("chat_cnt", "message_cnt", "new_contact_cnt", "negative_feedback_cnt"):
        out[column] = out[column].fillna(0).astype(np.int64)
    out["reply_percentage"] = np.where(out["chat_cnt"] > 0, (100 * out["replied"] / out["started"]).round(2), np.nan)
    out["avg_reply_time"] = np.where(out["chat_cnt"] > 0, out["avg_reply_time"].round(0), np.nan)
    # Applications not accepted: a few per new contact.
    out["new_apply_cnt"] = out["new_contact_cnt"] + rng.poisson(0.15 * out["new_contact_cnt"].to_numpy())
    out["stat_time"] = spec.start_ts + out["day"].astype(np.int64) * DAY_SECONDS
    out = out.sort_values(["guide", "day"]).reset_index(drop=True)
    return out[
        [
            "guide",
            "stat_time",
            "chat_cnt",
            "message_cnt",
            "reply_percentage",
            "avg_reply_time",
            "negative_feedback_cnt",
            "new_apply_cnt",
            "new_contact_cnt",
        ]
    ]


def group_statistic_daily(spec: WorldSpec, groups: Groups, members: Members, messages: Messages) -> pd.DataFrame:
    """groupchat/statistic per owner and day. Totals are as of the end of the day; the has_msg and
    msg_total fields count that day (docs/decisions.md)."""
    n_groups, days = len(groups.chat_id), spec.days
    day_end = spec.start_ts + (np.arange(days) + 1) * DAY_SECONDS

    def daily_matrix(group: np.ndarray, day: np.ndarray, weight=None) -> np.ndarray:
        """Counts per (group, day), with events before the period in column 0 of a leading slot."""
        clipped = np.clip(day, -1, days - 1) + 1
        flat = np.bincount(
            group.astype(np.int64) * (days + 1) + clipped, weights=weight, minlength=n_groups * (days + 1)
        )
        return flat.reshape(n_groups, days + 1)

    group_index = np.arange(n_groups)
    joins = daily_matrix(
        np.concatenate([members.group, group_index]),
        _day(spec, np.concatenate([members.join_time, groups.create_time])),
    )
    left = members.leave_time > 0
    leaves = daily_matrix(members.group[left], _day(spec, members.leave_time[left]))
    member_total = np.cumsum(joins - leaves, axis=1)[:, 1:]
    new_member = joins[:, 1:]
    created = daily_matrix(group_index, _day(spec, groups.create_time))
    chat_exists = np.cumsum(created, axis=1)[:, 1:] > 0
    new_chat = created[:, 1:]

    in_group = messages.group >= 0
    msg_group = messages.group[in_group]
    msg_day = _day(spec, messages.msgtime_ms[in_group] // 1000)
    msg_total = daily_matrix(msg_group, msg_day)[:, 1:]
    sender = np.where(
        messages.sender_guide[in_group] >= 0, -1 - messages.sender_guide[in_group], messages.sender_person[in_group]
    )
    speakers = pd.DataFrame({"g": msg_group, "d": msg_day, "s": sender}).drop_duplicates()
    member_has_msg = daily_matrix(speakers["g"].to_numpy(), speakers["d"].to_numpy())[:, 1:]

    owner = owner_at(groups, np.repeat(group_index, days), np.tile(day_end - 1, n_groups)).reshape(n_groups, days)
    frame = pd.DataFrame(
        {
            "owner": owner.ravel(),
            "day": np.tile(np.arange(days), n_groups),
            "exists": chat_exists.ravel(),
            "new_chat_cnt": new_chat.ravel(),
            "chat_total": chat_exists.ravel().astype(np.int64),
            "chat_has_msg": (msg_total.ravel() > 0).astype(np.int64),
            "new_member_cnt": new_member.ravel(),
            "member_total": np.where(chat_exists, member_total, 0).ravel(),
            "member_has_msg": member_has_msg.ravel(),
            "msg_total": msg_total.ravel(),
        }
    )
    frame = frame[frame["exists"]].drop(columns="exists")
    out = frame.groupby(["owner", "day"], as_index=False).sum()
    for column in out.columns:
        out[column] = out[column].astype(np.int64)
    out["stat_time"] = spec.start_ts + out["day"] * DAY_SECONDS
    out["migrate_trainee_chat_cnt"] = 0
    return out.drop(columns="day")
