"""WeCom ingestion: daily snapshots (friendships, contacts, groups, members, corp tags, contact ways,
unassigned customers) and daily statistics, flattened into lake partitions."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa

from siyu.connectors.wecom import WeComClient
from siyu.ingest.run_day import RunDay
from siyu.lake import table_from_rows, write_partition

log = logging.getLogger(__name__)
SOURCE = "wecom"

SCHEMAS = {
    "external_contacts": pa.schema(
        [
            ("external_userid", pa.string()),
            ("name", pa.string()),
            ("type", pa.int8()),
            ("gender", pa.int8()),
            ("unionid", pa.string()),
            ("corp_name", pa.string()),
        ]
    ),
    "follow_relations": pa.schema(
        [
            ("external_userid", pa.string()),
            ("userid", pa.string()),
            ("remark", pa.string()),
            ("createtime", pa.int64()),
            ("add_way", pa.int16()),
            ("state", pa.string()),
            ("oper_userid", pa.string()),
            ("remark_mobiles", pa.list_(pa.string())),
            ("tag_ids", pa.list_(pa.string())),
        ]
    ),
    "groups": pa.schema(
        [
            ("chat_id", pa.string()),
            ("status", pa.int8()),
            ("name", pa.string()),
            ("owner", pa.string()),
            ("create_time", pa.int64()),
            ("notice", pa.string()),
            ("member_version", pa.string()),
            ("member_count", pa.int32()),
        ]
    ),
    "group_members": pa.schema(
        [
            ("chat_id", pa.string()),
            ("userid", pa.string()),
            ("type", pa.int8()),
            ("unionid", pa.string()),
            ("join_time", pa.int64()),
            ("join_scene", pa.int8()),
            ("invitor", pa.string()),
            ("state", pa.string()),
            ("group_nickname", pa.string()),
        ]
    ),
    "corp_tags": pa.schema(
        [
            ("group_id", pa.string()),
            ("group_name", pa.string()),
            ("tag_id", pa.string()),
            ("tag_name", pa.string()),
            ("tag_order", pa.int64()),
            ("create_time", pa.int64()),
        ]
    ),
    "contact_ways": pa.schema(
        [
            ("config_id", pa.string()),
            ("type", pa.int8()),
            ("scene", pa.int8()),
            ("remark", pa.string()),
            ("state", pa.string()),
            ("user", pa.list_(pa.string())),
        ]
    ),
    "unassigned_customers": pa.schema(
        [("handover_userid", pa.string()), ("external_userid", pa.string()), ("dimission_time", pa.int64())]
    ),
    "user_behavior": pa.schema(
        [
            ("userid", pa.string()),
            ("stat_time", pa.int64()),
            ("chat_cnt", pa.int64()),
            ("message_cnt", pa.int64()),
            ("reply_percentage", pa.float64()),
            ("avg_reply_time", pa.float64()),
            ("negative_feedback_cnt", pa.int64()),
            ("new_apply_cnt", pa.int64()),
            ("new_contact_cnt", pa.int64()),
        ]
    ),
    "group_statistic": pa.schema(
        [
            ("stat_time", pa.int64()),
            ("owner", pa.string()),
            ("new_chat_cnt", pa.int64()),
            ("chat_total", pa.int64()),
            ("chat_has_msg", pa.int64()),
            ("new_member_cnt", pa.int64()),
            ("member_total", pa.int64()),
            ("member_has_msg", pa.int64()),
            ("msg_total", pa.int64()),
            ("migrate_trainee_chat_cnt", pa.int64()),
        ]
    ),
}
ENTITIES = tuple(SCHEMAS)
# How far back contact ways are listed: list_contact_way defaults to 90 days, so ask for years.
CONTACT_WAY_HISTORY_SECONDS = 3 * 365 * 86_400


def _write(lake: Path, run: RunDay, entity: str, rows: list[dict]) -> dict:
    return write_partition(
        lake, SOURCE, entity, run.dt, table_from_rows(SCHEMAS[entity], rows), run_id=run.run_id, window=run.window()
    )


def snapshot_contacts(client: WeComClient, lake: Path, run: RunDay) -> dict[str, int]:
    """Every friendship of every guide with customer contact, and each customer once."""
    users = client.follow_users()
    relations, contacts = [], {}
    for item in client.contacts_by_user(users):
        contact, follow = item["external_contact"], item["follow_info"]
        contacts[contact["external_userid"]] = contact
        relations.append(
            {
                **follow,
                "external_userid": contact["external_userid"],
                "tag_ids": follow.get("tag_id", []),
                "state": follow.get("state", ""),
            }
        )
    log.info("wecom: %d guides, %d friendships, %d customers", len(users), len(relations), len(contacts))
    return {
        "follow_relations": _write(lake, run, "follow_relations", relations)["rows"],
        "external_contacts": _write(lake, run, "external_contacts", list(contacts.values()))["rows"],
    }


def snapshot_groups(client: WeComClient, lake: Path, run: RunDay) -> dict[str, int]:
    groups, members = [], []
    for listed in client.group_chat_ids():
        chat = client.group_chat(listed["chat_id"])
        groups.append({**chat, "status": listed["status"], "member_count": len(chat["member_list"])})
        for member in chat["member_list"]:
            members.append(
                {**member, "chat_id": chat["chat_id"], "invitor": (member.get("invitor") or {}).get("userid")}
            )
    log.info("wecom: %d groups, %d memberships", len(groups), len(members))
    return {
        "groups": _write(lake, run, "groups", groups)["rows"],
        "group_members": _write(lake, run, "group_members", members)["rows"],
    }


def snapshot_directory(client: WeComClient, lake: Path, run: RunDay) -> dict[str, int]:
    """Corp tags, channel QR codes and customers of resigned guides waiting for a new guide."""
    tags = [
        {
            "group_id": group["group_id"],
            "group_name": group["group_name"],
            "tag_id": tag["id"],
            "tag_name": tag["name"],
            "tag_order": tag["order"],
            "create_time": tag["create_time"],
        }
        for group in client.corp_tags()
        for tag in group["tag"]
    ]
    ways = [
        client.contact_way(config_id)
        for config_id in client.contact_way_ids(run.end_ts - CONTACT_WAY_HISTORY_SECONDS, run.end_ts)
    ]
    unassigned = list(client.unassigned())
    return {
        "corp_tags": _write(lake, run, "corp_tags", tags)["rows"],
        "contact_ways": _write(lake, run, "contact_ways", ways)["rows"],
        "unassigned_customers": _write(lake, run, "unassigned_customers", unassigned)["rows"],
    }


def pull_statistics(client: WeComClient, lake: Path, run: RunDay) -> dict[str, int]:
    """The run day's behaviour per guide and group statistics per owner."""
    users = client.follow_users()
    behaviour = [row for user in users for row in client.user_behavior(user, run.start_ts, run.start_ts)]
    groups = list(client.group_statistic(run.start_ts, users))
    return {
        "user_behavior": _write(lake, run, "user_behavior", behaviour)["rows"],
        "group_statistic": _write(lake, run, "group_statistic", groups)["rows"],
    }
