"""`siyu world generate`: build every part of the world and write what each source would hold."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from siyu_sim.world import chats, community, people, shop, stats, stores, truth, wecom
from siyu_sim.world.ids import token_strings
from siyu_sim.world.spec import PERSONA_NAMES_ZH, PERSONAS, WorldSpec
from siyu_sim.world.tables import flat_array, list_column

log = logging.getLogger(__name__)
FORMAT_VERSION = 4  # 2: browsing visits name their group or guide, members' phones noted; 3: group links;
# 4: one inherited friendship when two resigning guides hand a customer to the same manager


def _write(root: Path, relative: str, data: pa.Table | pd.DataFrame | dict) -> int:
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    elif isinstance(data, dict):
        data = pa.table({k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in data.items()})
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, path, compression="zstd", row_group_size=1_000_000)
    return data.num_rows


def _nullable(values: np.ndarray, present: np.ndarray) -> pa.Array:
    return pa.array(values, mask=~np.asarray(present, bool))


def _time(values: np.ndarray) -> pa.Array:
    """Unix seconds, null where the event did not happen (stored as -1 while generating)."""
    values = np.asarray(values, np.int64)
    return pa.array(values, mask=values < 0)


def generate(spec: WorldSpec, out: Path) -> dict:
    """Generate the world into `out` and return its manifest (row counts per table, timings)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}

    def step(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 2)
        log.info("world: %-10s %6.2fs", name, timings[name])

    began = t = time.perf_counter()
    folks = people.make_people(spec)
    step("people", t)

    t = time.perf_counter()
    rng = spec.rng("wecom")
    staff = wecom.make_staff(spec, rng)
    store_table = wecom.make_stores(spec)
    ways = wecom.make_contact_ways(spec)
    tag_groups, tags = wecom.make_tags()
    rel = wecom.make_relations(spec, folks, staff, rng)
    tag_rel, tag_id = wecom.relation_tags(rel, tags["tag_id"], spec.rng("tags"))
    step("wecom", t)

    t = time.perf_counter()
    rng = spec.rng("community")
    groups = community.make_groups(spec, staff, rng)
    members = community.make_members(spec, folks, groups, rel, rng)
    group_messages = community.make_group_messages(spec, folks, groups, members, rng)
    one_to_one = chats.make_chats(spec, folks, rel, spec.rng("chats"))
    step("community", t)

    t = time.perf_counter()
    rng = spec.rng("shop")
    catalogue = shop.make_catalogue(rng)
    orders, items, referrals = shop.make_orders(spec, folks, members, rel, staff.userid, groups.chat_id, catalogue, rng)
    visits = shop.make_visits(spec, folks, orders, rng, members, rel, staff.userid, groups.chat_id)
    step("shop", t)

    t = time.perf_counter()
    rng = spec.rng("stores")
    store_members = stores.make_members(spec, folks, rng)
    receipts, lines = stores.make_pos(spec, folks, store_members, staff, store_table, catalogue, rng)
    step("stores", t)

    t = time.perf_counter()
    behaviour = stats.user_behavior_daily(spec, rel, one_to_one, spec.rng("behaviour"))
    group_stats = stats.group_statistic_daily(spec, groups, members, group_messages)
    step("statistics", t)

    t = time.perf_counter()
    counts.update(
        _write_wecom(
            out,
            spec,
            folks,
            staff,
            store_table,
            ways,
            tag_groups,
            tags,
            rel,
            tag_rel,
            tag_id,
            groups,
            members,
            behaviour,
            group_stats,
        )
    )
    messages = _messages_table(folks, staff, groups, community.concat_messages(group_messages, one_to_one))
    counts["wecom/messages"] = _write(out, "wecom/messages.parquet", messages)
    messages = messages.select(["from", "roomid", "msgtime"]).to_pandas()
    counts.update(_write_shop(out, spec, folks, catalogue, orders, items, visits))
    counts.update(_write_stores(out, store_table, store_members, receipts, lines, staff, catalogue))
    step("write", t)

    t = time.perf_counter()
    counts.update(
        _write_truth(
            out,
            folks,
            staff,
            rel,
            groups,
            members,
            referrals,
            orders,
            receipts,
            lines,
            store_members,
            store_table,
            messages,
        )
    )
    step("truth", t)

    manifest = {
        "format_version": FORMAT_VERSION,
        "scale": spec.scale,
        "seed": spec.seed,
        "start": spec.start.isoformat(),
        "days": spec.days,
        "start_ts": spec.start_ts,
        "end_ts": spec.end_ts,
        "corp_id": "ww" + token_strings("", np.array([spec.seed]), 51, 16, "hex")[0],
        "youzan_kdt_id": int(100_000 + spec.seed % 900_000),
        "tables": dict(sorted(counts.items())),
    }
    (out / "world.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    timings["total"] = round(time.perf_counter() - began, 2)
    return {**manifest, "timings": timings}


def _write_wecom(
    out,
    spec,
    folks,
    staff,
    store_table,
    ways,
    tag_groups,
    tags,
    rel,
    tag_rel,
    tag_id,
    groups,
    members,
    behaviour,
    group_stats,
) -> dict:
    counts = {}
    counts["wecom/staff"] = _write(
        out,
        "wecom/staff.parquet",
        {
            "userid": staff.userid,
            "name": staff.name,
            "store_id": store_table["store_id"][staff.store],
            "mobile": staff.mobile,
            "resigned_at": _time(staff.resigned_at),
        },
    )
    counts["wecom/contact_ways"] = _write(
        out,
        "wecom/contact_ways.parquet",
        {
            "config_id": ways["config_id"],
            "type": np.full(len(ways["state"]), 2),
            "scene": np.full(len(ways["state"]), 2),
            "remark": ways["remark"],
            "state": ways["state"],
            "store_id": store_table["store_id"][ways["store"]],
            "user": list_column(
                np.repeat(np.arange(len(ways["store"])), spec.guides_per_store),
                staff.userid[
                    (
                        np.repeat(ways["store"], spec.guides_per_store) * spec.guides_per_store
                        + np.tile(np.arange(spec.guides_per_store), len(ways["store"]))
                    )
                ],
                len(ways["store"]),
            ),
            "created_at": ways["created_at"],
        },
    )
    counts["wecom/tag_groups"] = _write(out, "wecom/tag_groups.parquet", tag_groups)
    counts["wecom/tags"] = _write(out, "wecom/tags.parquet", tags)

    contacts = np.unique(rel.person)
    rng = spec.rng("unionid-visibility")
    # The corp is bound to an Open Platform account: WeChat users carry a unionid, except contacts whose
    # unionid the API does not return (added before the binding).
    unionid_visible = folks.is_wechat_user & (rng.random(folks.size) < 0.95)
    counts["wecom/external_contacts"] = _write(
        out,
        "wecom/external_contacts.parquet",
        {
            "external_userid": folks.external_userid[contacts],
            "name": folks.name[contacts],
            "type": np.where(folks.is_wechat_user[contacts], 1, 2),
            "gender": folks.gender[contacts],
            "unionid": _nullable(folks.unionid[contacts], unionid_visible[contacts]),
            "corp_name": _nullable(np.full(len(contacts), "某某科技"), ~folks.is_wechat_user[contacts]),
        },
    )
    oper = np.where(rel.oper_is_customer, folks.external_userid[rel.person], staff.userid[rel.guide])
    oper = np.where(rel.add_way == 202, staff.userid[staff.takeover[np.maximum(rel.inherited_from, 0)]], oper)
    counts["wecom/follow_relations"] = _write(
        out,
        "wecom/follow_relations.parquet",
        {
            "external_userid": folks.external_userid[rel.person],
            "userid": staff.userid[rel.guide],
            "createtime": rel.createtime,
            "add_way": rel.add_way,
            "state": rel.state,
            "oper_userid": oper,
            "remark": folks.name[rel.person],
            "remark_mobiles": list_column(
                np.flatnonzero(rel.remark_mobile != ""), rel.remark_mobile[rel.remark_mobile != ""], len(rel.person)
            ),
            "tag_ids": list_column(tag_rel, tag_id, len(rel.person)),
            "ended_at": _time(rel.ended_at),
            "end_reason": rel.end_reason,
            "inherited_from": _nullable(staff.userid[np.maximum(rel.inherited_from, 0)], rel.inherited_from >= 0),
        },
    )

    inherited = np.flatnonzero(rel.end_reason == "transferred")
    refused = np.flatnonzero(rel.end_reason == "transfer_refused")
    resigned = staff.resigned_at[rel.guide] > 0
    unassigned = np.flatnonzero(resigned & (rel.ended_at < 0) & (rel.add_way != 202))
    rows = np.concatenate([inherited, refused, unassigned])
    status = np.concatenate([np.full(len(inherited), 1), np.full(len(refused), 3), np.full(len(unassigned), 5)])
    counts["wecom/transfers"] = _write(
        out,
        "wecom/transfers.parquet",
        {
            "handover_userid": staff.userid[rel.guide[rows]],
            "takeover_userid": _nullable(staff.userid[staff.takeover[rel.guide[rows]]], status != 5),
            "external_userid": folks.external_userid[rel.person[rows]],
            "status": status,
            "takeover_time": _time(np.where(status == 5, -1, staff.resigned_at[rel.guide[rows]] + 86_400)),
            "dimission_time": staff.resigned_at[rel.guide[rows]],
        },
    )

    counts["wecom/groups"] = _write(
        out,
        "wecom/groups.parquet",
        {
            "chat_id": groups.chat_id,
            "name": groups.name,
            "owner": staff.userid[groups.owner],
            "create_time": groups.create_time,
            "notice": np.full(len(groups.chat_id), "文明沟通，拒绝广告"),
            "new_owner": _nullable(staff.userid[np.maximum(groups.new_owner, 0)], groups.new_owner >= 0),
            "owner_changed_at": _time(groups.owner_changed_at),
        },
    )
    # The fission poster's join state: fx_ + the inviter's external_userid cut to its first 24 characters
    # (docs/decisions.md "Group fission"; 27 characters, within WeCom's 30).
    referrer_id = np.strings.add("fx_", np.strings.slice(folks.external_userid[np.maximum(members.referrer, 0)], 0, 24))
    counts["wecom/group_members"] = _write(
        out,
        "wecom/group_members.parquet",
        {
            "chat_id": groups.chat_id[members.group],
            "userid": folks.external_userid[members.person],
            "type": np.full(len(members.group), 2),
            "unionid": _nullable(folks.unionid[members.person], unionid_visible[members.person]),
            "join_time": members.join_time,
            "join_scene": members.join_scene,
            "invitor": _nullable(staff.userid[np.maximum(members.invitor_guide, 0)], members.invitor_guide >= 0),
            # A fission poster's join QR carries the inviting member in its state (≤ 30 chars).
            "state": _nullable(referrer_id, members.referrer >= 0),
            "group_nickname": folks.name[members.person],
            "leave_time": _time(members.leave_time),
        },
    )
    behaviour = behaviour.assign(userid=staff.userid[behaviour["guide"].to_numpy()]).drop(columns="guide")
    counts["wecom/user_behavior_daily"] = _write(out, "wecom/user_behavior_daily.parquet", behaviour)
    group_stats = group_stats.assign(owner=staff.userid[group_stats["owner"].to_numpy()])
    counts["wecom/group_statistic_daily"] = _write(out, "wecom/group_statistic_daily.parquet", group_stats)
    return counts


def _messages_table(folks, staff, groups, messages) -> pa.Table:
    """The decrypted session-archive shape: msgid, action, from, tolist, roomid, msgtime, msgtype, text.
    One-to-one messages list their recipient; group messages carry the roomid (docs/decisions.md)."""
    order = np.argsort(messages.msgtime_ms, kind="stable")
    sender = np.where(
        messages.sender_guide >= 0,
        staff.userid[np.maximum(messages.sender_guide, 0)],
        folks.external_userid[np.maximum(messages.sender_person, 0)],
    )[order]
    peer = np.where(
        messages.peer_person >= 0,
        folks.external_userid[np.maximum(messages.peer_person, 0)],
        np.where(messages.peer_guide >= 0, staff.userid[np.maximum(messages.peer_guide, 0)], ""),
    )[order]
    roomid = np.where(messages.group >= 0, groups.chat_id[np.maximum(messages.group, 0)], "")[order]
    msgtime = messages.msgtime_ms[order]
    n = len(order)
    has_peer = peer != ""
    offsets = np.concatenate([[0], np.cumsum(has_peer)]).astype(np.int32)
    return pa.table(
        {
            "msgid": np.strings.add(
                np.strings.add(token_strings("", np.arange(n), 61, 20, "digits"), "_"), (msgtime // 1000).astype("U10")
            ),
            "action": pa.array(np.full(n, "send")),
            "from": sender,
            "tolist": pa.ListArray.from_arrays(pa.array(offsets), flat_array(peer[has_peer])),
            "roomid": roomid,
            "msgtime": msgtime,
            "msgtype": pa.array(np.full(n, "text")),
            "content": messages.phrase[order],
        }
    )


def _write_shop(out, spec, folks, catalogue, orders, items, visits) -> dict:
    rng_bind = spec.rng("shop-binding")  # an independent stream of the world seed, like every other part
    buyers = np.flatnonzero(folks.in_shop)
    mobile_known = rng_bind.random(len(buyers)) < 0.8
    wechat_buyer = folks.is_wechat_user[buyers] & (rng_bind.random(len(buyers)) < 0.9)
    # The mini-program shop is bound to the same Open Platform account: WeChat buyers carry a unionid,
    # except the few who never authorised it.
    union_bound = wechat_buyer & (rng_bind.random(len(buyers)) < 0.98)
    counts = {}
    counts["shop/users"] = _write(
        out,
        "shop/users.parquet",
        {
            "yz_open_id": folks.yz_open_id[buyers],
            "nick_name": folks.name[buyers],
            "gender": folks.gender[buyers],
            "mobile": _nullable(folks.phone[buyers], mobile_known),
            "weixin_open_id": _nullable(folks.openid[buyers], wechat_buyer),
            "union_id": _nullable(folks.unionid[buyers], union_bound),
        },
    )
    is_wechat_buyer = np.zeros(folks.size, bool)
    is_wechat_buyer[buyers[wechat_buyer]] = True
    counts["shop/items"] = _write(
        out,
        "shop/items.parquet",
        {
            "item_id": catalogue.item_id,
            "title": catalogue.title,
            "category": catalogue.category,
            "price_fen": catalogue.price_fen,
            "outer_sku_id": catalogue.sku,
        },
    )
    counts["shop/orders"] = _write(
        out,
        "shop/orders.parquet",
        {
            "tid": orders.tid,
            "yz_open_id": folks.yz_open_id[orders.person],
            "outer_user_id": _nullable(folks.openid[orders.person], is_wechat_buyer[orders.person]),
            "buyer_phone": orders.buyer_phone,
            "created": orders.created,
            "pay_time": _time(orders.pay_time),
            "consign_time": _time(orders.consign_time),
            "success_time": _time(orders.success_time),
            "refund_time": _time(orders.refund_time),
            "refund_fen": orders.refund_fen,
            "total_fee_fen": orders.total_fee_fen,
            "payment_fen": orders.payment_fen,
            "post_fee_fen": orders.post_fee_fen,
            "source": orders.source,
            "source_ref": orders.source_ref,
        },
    )
    counts["shop/order_items"] = _write(
        out,
        "shop/order_items.parquet",
        {
            "tid": orders.tid[items.order],
            "oid": items.oid,
            "item_id": catalogue.item_id[items.item],
            "title": catalogue.title[items.item],
            "category": catalogue.category[items.item],
            "outer_sku_id": catalogue.sku[items.item],
            "num": items.num,
            "price_fen": catalogue.price_fen[items.item],
            "total_fee_fen": items.total_fee_fen,
            "payment_fen": items.payment_fen,
        },
    )
    counts["shop/visits"] = _write(out, "shop/visits.parquet", {k: v for k, v in visits.items() if k != "person"})
    return counts


def _write_stores(out, store_table, store_members, receipts, lines, staff, catalogue) -> dict:
    counts = {}
    counts["store/stores"] = _write(out, "store/stores.parquet", store_table)
    counts["store/members"] = _write(
        out,
        "store/members.parquet",
        {
            "card_no": store_members["card_no"],
            "store_id": store_table["store_id"][store_members["store"]],
            "phone": store_members["phone"],
            "name": store_members["name"],
            "gender": store_members["gender"],
            "birthday": store_members["birthday"],
            "registered_at": store_members["registered_at"],
            "marketing_opt_in": store_members["marketing_opt_in"],
        },
    )
    receipt = lines["receipt"]
    counts["store/pos_lines"] = _write(
        out,
        "store/pos_lines.parquet",
        {
            "receipt_no": receipts["receipt_no"][receipt],
            "line_no": lines["line_no"],
            "store_id": store_table["store_id"][receipts["store"][receipt]],
            "sold_at": receipts["ts"][receipt],
            "card_no": receipts["card_no"][receipt],
            "phone": receipts["phone"][receipt],
            "salesperson": staff.userid[receipts["guide"][receipt]],
            "sku": catalogue.sku[lines["item"]],
            "category": catalogue.category[lines["item"]],
            "qty": lines["qty"],
            "unit_price_fen": lines["unit_price_fen"],
            "amount_fen": lines["amount_fen"],
        },
    )
    return counts


def _write_truth(
    out, folks, staff, rel, groups, members, referrals, orders, receipts, lines, store_members, store_table, messages
) -> dict:
    counts = {}
    n = folks.size
    counts["truth/persons"] = _write(
        out,
        "truth/persons.parquet",
        {
            "person_id": np.arange(n),
            "persona": np.array(PERSONAS)[folks.persona],
            "persona_zh": np.array(PERSONA_NAMES_ZH)[folks.persona],
            "home_store_id": store_table["store_id"][folks.home_store],
            "phone": folks.phone,
            "in_wecom": folks.in_wecom,
            "in_shop": folks.in_shop,
            "is_member": folks.is_member,
            "is_walk_in": folks.is_walk_in,
            "opted_out": folks.opted_out,
        },
    )
    rel_noted = rel.remark_mobile != ""
    pos_phone = receipts["phone"] != ""
    pos_card = receipts["card_no"] != ""
    shop_users = np.flatnonzero(folks.in_shop)
    order_phone = np.char.find(orders.buyer_phone, "*") < 0
    pairs = [
        ("wecom", "external_userid", folks.external_userid[rel.person], rel.person),
        ("wecom", "external_userid", folks.external_userid[members.person], members.person),
        ("wecom", "unionid", folks.unionid[rel.person], rel.person),
        ("wecom", "phone", rel.remark_mobile[rel_noted], rel.person[rel_noted]),
        ("shop", "yz_open_id", folks.yz_open_id[shop_users], shop_users),
        ("shop", "openid", folks.openid[shop_users], shop_users),
        ("shop", "unionid", folks.unionid[shop_users], shop_users),
        ("shop", "phone", folks.phone[shop_users], shop_users),
        ("shop", "phone", orders.buyer_phone[order_phone], orders.person[order_phone]),
        ("store", "member_card", store_members["card_no"], store_members["person"]),
        ("store", "phone", store_members["phone"], store_members["person"]),
        ("store", "phone", receipts["phone"][pos_phone], receipts["person"][pos_phone]),
        ("store", "member_card", receipts["card_no"][pos_card], receipts["person"][pos_card]),
    ]
    counts["truth/identifiers"] = _write(out, "truth/identifiers.parquet", truth.identifiers(pairs))
    counts["truth/guide_assignments"] = _write(
        out,
        "truth/guide_assignments.parquet",
        {
            "person_id": rel.person,
            "userid": staff.userid[rel.guide],
            "since": rel.createtime,
            "until": _time(rel.ended_at),
            "end_reason": rel.end_reason,
            "via": np.where(rel.add_way == 202, "inherited", "added"),
        },
    )
    fission = members.referrer >= 0
    counts["truth/referrals"] = _write(
        out,
        "truth/referrals.parquet",
        {
            "referrer_person": np.concatenate([referrals["referrer_person"], members.referrer[fission]]),
            "referred_person": np.concatenate([referrals["referred_person"], members.person[fission]]),
            "channel": np.concatenate([referrals["channel"], np.full(fission.sum(), "group_fission")]),
            "chat_id": np.concatenate([np.full(len(referrals["channel"]), ""), groups.chat_id[members.group[fission]]]),
            "at": np.concatenate([referrals["at"], members.join_time[fission]]),
        },
    )
    order_frame = pd.DataFrame(
        {
            "tid": orders.tid,
            "person": orders.person,
            "payment_fen": orders.payment_fen,
            "refund_fen": orders.refund_fen,
            "pay_time": np.where(orders.pay_time >= 0, orders.pay_time, np.nan),
            "refund_time": np.where(orders.refund_time >= 0, orders.refund_time, np.nan),
        }
    )
    receipt = lines["receipt"]
    pos_frame = pd.DataFrame(
        {
            "receipt_no": receipts["receipt_no"][receipt],
            "person": receipts["person"][receipt],
            "ts": receipts["ts"][receipt],
            "amount_fen": lines["amount_fen"],
        }
    )
    counts["truth/gmv_by_channel_month"] = _write(
        out, "truth/gmv_by_channel_month.parquet", truth.gmv_by_channel_month(order_frame, pos_frame)
    )
    counts["truth/group_speakers_by_month"] = _write(
        out, "truth/group_speakers_by_month.parquet", truth.group_speakers_by_month(messages)
    )
    paid_online = set(orders.person[orders.pay_time >= 0].tolist())
    bought_store = set(pos_frame.loc[pos_frame["amount_fen"] > 0, "person"].tolist())
    headline = {
        "persons": int(n),
        "buyers_online": len(paid_online),
        "buyers_store": len(bought_store),
        "buyers_any": len(paid_online | bought_store),
        "wecom_friends_live": int(np.unique(rel.person[rel.ended_at < 0]).size),
        "group_speakers": int(
            messages.loc[(messages["roomid"] != "") & ~messages["from"].str.startswith("guide"), "from"].nunique()
        ),
        "gmv_online": float(orders.payment_fen[orders.pay_time >= 0].sum() / 100),
        "gmv_store": float(lines["amount_fen"][lines["amount_fen"] > 0].sum() / 100),
    }
    (out / "truth" / "headline.json").write_text(json.dumps(headline, indent=2) + "\n", encoding="utf-8")
    return counts
