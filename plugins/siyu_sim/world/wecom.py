"""WeCom: stores' shopping guides, channel QR codes, corp tags, friendships, deletions and inheritance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siyu_sim.world.ids import token_strings
from siyu_sim.world.people import People, typo
from siyu_sim.world.spec import DAY_SECONDS, WorldSpec

CITIES = np.array(["上海", "北京", "广州", "深圳", "杭州", "成都", "南京", "武汉", "苏州", "西安"])
# Channel codes a brand prints on its QR codes (state ≤ 30 chars), and how many customers come through each.
CHANNELS = np.array(["counter", "parcel_card", "live_stream", "ad_moments", "one_item_code", "event"])
CHANNEL_SHARE = np.array([0.38, 0.22, 0.12, 0.10, 0.12, 0.06])
TAG_GROUPS = {
    "客户等级": ["新客", "老客", "VIP"],
    "兴趣偏好": ["护肤", "彩妆", "香氛", "个护", "母婴"],
    "沟通意向": ["高意向", "一般", "勿扰"],
}


@dataclass
class Staff:
    userid: np.ndarray
    name: np.ndarray
    store: np.ndarray
    mobile: np.ndarray
    resigned_at: np.ndarray  # unix seconds, -1 while employed
    takeover: np.ndarray  # index of the guide who inherits, -1 if none


@dataclass
class Relations:
    """One row per follow relation (guide × customer), including ones that ended."""

    person: np.ndarray
    guide: np.ndarray
    createtime: np.ndarray
    add_way: np.ndarray
    state: np.ndarray
    oper_is_customer: np.ndarray
    ended_at: np.ndarray  # -1 while live
    end_reason: np.ndarray  # '' | deleted_by_customer | deleted_by_member | transferred | transfer_refused
    remark_mobile: np.ndarray  # '' or a phone typed by the guide
    inherited_from: np.ndarray  # guide index or -1


def make_staff(spec: WorldSpec, rng: np.random.Generator) -> Staff:
    n = spec.n_stores * spec.guides_per_store
    index = np.arange(n)
    store = index // spec.guides_per_store
    # About one guide in ten leaves during the period; the store manager stays, so every store keeps a guide.
    eligible = np.flatnonzero(index % spec.guides_per_store != 0)
    resigns = np.zeros(n, bool)
    resigns[rng.choice(eligible, max(1, round(0.1 * len(eligible))), replace=False)] = True
    resigned_at = np.where(
        resigns, spec.start_ts + rng.integers(90, spec.days - 30, n) * DAY_SECONDS + rng.integers(36000, 64800, n), -1
    )
    takeover = np.full(n, -1)
    takeover[resigns] = store[resigns] * spec.guides_per_store  # the store manager inherits
    return Staff(
        userid=np.strings.add("guide", np.char.zfill(index.astype("U6"), 5)),
        name=np.strings.add(np.strings.add("导购", index.astype("U6")), "号"),
        store=store.astype(np.int32),
        mobile=np.strings.add("1990", np.char.zfill((index * 7919 % 10_000_000).astype("U7"), 7)),
        resigned_at=resigned_at.astype(np.int64),
        takeover=takeover.astype(np.int32),
    )


def make_stores(spec: WorldSpec) -> dict:
    index = np.arange(spec.n_stores)
    return {
        "store_id": np.strings.add("S", np.char.zfill((index + 1).astype("U5"), 4)),
        "store_name": np.strings.add(np.strings.add(CITIES[index % len(CITIES)], (index + 1).astype("U5")), "号店"),
        "city": CITIES[index % len(CITIES)],
        # The counter phone a cashier types for walk-ins who give none: the classic over-shared identifier.
        "counter_phone": np.strings.add("1350000", np.char.zfill((index * 37 % 10000).astype("U4"), 4)),
        "opened_at": np.full(spec.n_stores, spec.start_ts - 400 * DAY_SECONDS, dtype=np.int64),
    }


def make_contact_ways(spec: WorldSpec) -> dict:
    """One channel QR code per store and channel, used by all the store's guides."""
    stores = np.repeat(np.arange(spec.n_stores), len(CHANNELS))
    channel = np.tile(CHANNELS, spec.n_stores)
    state = np.strings.add(np.strings.add(channel, "_s"), (stores + 1).astype("U5"))
    keys = np.arange(len(stores))
    return {
        "config_id": token_strings("", keys, salt=21, length=32, alphabet="hex"),
        "state": state,
        "channel": channel,
        "store": stores.astype(np.int32),
        "remark": np.strings.add("渠道码-", state),
        "created_at": np.full(len(stores), spec.start_ts - 30 * DAY_SECONDS, dtype=np.int64),
    }


def make_tags() -> tuple[dict, dict]:
    groups, tags = (
        {"group_id": [], "group_name": [], "order": []},
        {"tag_id": [], "group_id": [], "name": [], "order": []},
    )
    for group_no, (group_name, names) in enumerate(TAG_GROUPS.items()):
        group_id = f"etGRP{group_no:04d}siyu"
        groups["group_id"].append(group_id)
        groups["group_name"].append(group_name)
        groups["order"].append(len(TAG_GROUPS) - group_no)
        for tag_no, tag_name in enumerate(names):
            tags["tag_id"].append(f"etTAG{group_no:02d}{tag_no:02d}siyu")
            tags["group_id"].append(group_id)
            tags["name"].append(tag_name)
            tags["order"].append(len(names) - tag_no)
    return {k: np.array(v) for k, v in groups.items()}, {k: np.array(v) for k, v in tags.items()}


def make_relations(spec: WorldSpec, people: People, staff: Staff, rng: np.random.Generator) -> Relations:
    gps = spec.guides_per_store
    wecom = np.flatnonzero(people.in_wecom)
    extra = wecom[rng.random(len(wecom)) < 0.12]  # some customers befriend a second guide
    person = np.concatenate([wecom, extra])
    n = len(person)
    offset = rng.integers(0, gps, n)
    guide = people.home_store[person] * gps + offset
    # Before a guide leaves they add customers; after, nobody adds them.
    last_day = np.where(
        staff.resigned_at[guide] > 0, (staff.resigned_at[guide] - spec.start_ts) // DAY_SECONDS, spec.days
    )
    createtime = (
        spec.start_ts
        + (rng.random(n) * (last_day - 1)).astype(np.int64) * DAY_SECONDS
        + rng.integers(8 * 3600, 22 * 3600, n)
    )
    # A second relation to the same guide would be a duplicate: move it to the next guide of the store.
    first_guide = np.full(spec.scale, -1)
    first_guide[person[: len(wecom)]] = guide[: len(wecom)]
    duplicate = np.zeros(n, bool)
    duplicate[len(wecom) :] = first_guide[extra] == guide[len(wecom) :]
    guide[duplicate] = people.home_store[person[duplicate]] * gps + (offset[duplicate] + 1) % gps
    createtime = np.minimum(
        createtime, np.where(staff.resigned_at[guide] > 0, staff.resigned_at[guide] - 3600, spec.end_ts - 3600)
    )
    way = rng.choice(5, n, p=[0.58, 0.14, 0.10, 0.10, 0.08])
    add_way = np.array([1, 2, 3, 4, 6])[way]
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_SHARE)
    state = np.where(
        add_way == 1,
        np.strings.add(np.strings.add(CHANNELS[channel], "_s"), (people.home_store[person] + 1).astype("U5")),
        "",
    )
    oper_is_customer = np.isin(add_way, [1, 4]) & (rng.random(n) < 0.8)

    # Guides note phones for some customers: sometimes with a typo, sometimes their own number.
    remark = np.full(n, "", dtype="U11")
    # A guide who added the customer by searching the phone (add_way 2) knows it; so does a guide binding
    # a store member (the counter looks the card up by phone, 会员绑定); the SOP asks it of the others.
    noted = (add_way == 2) | people.is_member[person] | (rng.random(n) < 0.85)
    remark[noted] = people.phone[person[noted]]
    typed_wrong = noted & (rng.random(n) < 0.03)
    remark[typed_wrong] = typo(remark[typed_wrong], rng)
    own = ~noted & (rng.random(n) < 0.01)
    remark[own] = staff.mobile[guide[own]]

    # Friendships end: deleted by the customer (most) or by the guide.
    ended_at = np.full(n, -1, dtype=np.int64)
    end_reason = np.full(n, "", dtype="U20")
    deleted = rng.random(n) < 0.08
    delete_at = createtime + (rng.random(n) * (spec.end_ts - createtime)).astype(np.int64)
    by_customer = rng.random(n) < 0.7
    ended_at[deleted] = delete_at[deleted]
    end_reason[deleted & by_customer] = "deleted_by_customer"
    end_reason[deleted & ~by_customer] = "deleted_by_member"

    relations = Relations(
        person,
        guide.astype(np.int32),
        createtime.astype(np.int64),
        add_way.astype(np.int16),
        state,
        oper_is_customer,
        ended_at,
        end_reason,
        remark,
        np.full(n, -1, np.int32),
    )
    return _inherit(spec, relations, staff, rng)


def _inherit(spec: WorldSpec, rel: Relations, staff: Staff, rng: np.random.Generator) -> Relations:
    """Customers of guides who resign pass to the store manager 24 h later (离职继承); some refuse,
    some wait unassigned."""
    resign = staff.resigned_at[rel.guide]
    live_at_resign = (resign > 0) & (rel.createtime < resign) & ((rel.ended_at < 0) | (rel.ended_at > resign))
    candidates = np.flatnonzero(live_at_resign)
    outcome = rng.choice(3, len(candidates), p=[0.85, 0.05, 0.10])  # taken over, refused, still unassigned
    takeover_time = resign[candidates] + DAY_SECONDS
    moved = candidates[(outcome == 0) & (takeover_time < spec.end_ts)]
    refused = candidates[(outcome == 1) & (takeover_time < spec.end_ts)]

    new = Relations(
        person=rel.person[moved],
        guide=staff.takeover[rel.guide[moved]],
        createtime=resign[moved] + DAY_SECONDS,
        add_way=np.full(len(moved), 202, np.int16),
        state=rel.state[moved],
        oper_is_customer=np.zeros(len(moved), bool),
        ended_at=rel.ended_at[moved].copy(),
        end_reason=rel.end_reason[moved].copy(),
        remark_mobile=rel.remark_mobile[moved],
        inherited_from=rel.guide[moved],
    )
    # A customer the manager already had stays one friendship: the inherited copy is dropped. So does the
    # second copy when two resigning guides hand the same customer to the same manager (WeCom keeps one
    # friendship per member and customer; the earlier takeover stands).
    new_key = new.person.astype(np.int64) * 1_000_000 + new.guide
    by_time = np.argsort(new.createtime, kind="stable")
    keep = np.zeros(len(new_key), bool)
    keep[by_time[np.unique(new_key[by_time], return_index=True)[1]]] = True  # the earliest copy of each
    keep &= ~np.isin(new_key, rel.person.astype(np.int64) * 1_000_000 + rel.guide)
    for reason, rows in (("transferred", moved), ("transfer_refused", refused)):
        rel.ended_at[rows] = resign[rows] + DAY_SECONDS
        rel.end_reason[rows] = reason
    # Relations that were still live when the guide resigned and ended later now end at the transfer.
    merged = {
        field: np.concatenate([getattr(rel, field), getattr(new, field)[keep]])
        for field in Relations.__dataclass_fields__
    }
    return Relations(**merged)


def relation_tags(rel: Relations, tag_ids: np.ndarray, rng: np.random.Generator):
    """Corp tags guides set on a relation: 0-3 per relation. Returns (relation_index, tag_id) pairs."""
    count = rng.choice(4, len(rel.person), p=[0.35, 0.35, 0.2, 0.1])
    owner = np.repeat(np.arange(len(rel.person)), count)
    tag = rng.integers(0, len(tag_ids), len(owner))
    pairs = np.unique(owner.astype(np.int64) * 1000 + tag)
    return (pairs // 1000).astype(np.int64), tag_ids[pairs % 1000]
