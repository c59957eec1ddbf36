"""The online shop: buyers, orders with their life events, line items, refunds, visits and referrals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siyu_sim.world.community import Members
from siyu_sim.world.ids import token_strings
from siyu_sim.world.people import People, mask, typo
from siyu_sim.world.spec import (
    DAY_SECONDS,
    PERSONA_DISCOUNT,
    PERSONA_ORDER_GAP_DAYS,
    PERSONA_REFERRAL,
    PERSONA_REPEAT,
    WorldSpec,
)
from siyu_sim.world.wecom import Relations

CATEGORIES = np.array(["护肤", "彩妆", "香氛", "个护", "母婴", "礼盒", "美容工具", "配件"])
SOURCES = np.array(["group", "guide_share", "moments", "search", "ads", "referral"])


@dataclass
class Catalogue:
    item_id: np.ndarray
    title: np.ndarray
    category: np.ndarray
    price_fen: np.ndarray
    sku: np.ndarray


@dataclass
class Orders:
    tid: np.ndarray
    person: np.ndarray
    created: np.ndarray
    pay_time: np.ndarray  # -1 if never paid (closed unpaid)
    consign_time: np.ndarray
    success_time: np.ndarray
    refund_time: np.ndarray  # -1 if no refund
    refund_fen: np.ndarray
    total_fee_fen: np.ndarray  # goods value before discount
    payment_fen: np.ndarray  # paid, after discount, including post fee
    post_fee_fen: np.ndarray
    source: np.ndarray
    source_ref: np.ndarray  # chat_id, guide userid or referrer yz_open_id; '' otherwise
    buyer_phone: np.ndarray  # as the shop shows it: full, masked or ''


@dataclass
class Items:
    order: np.ndarray
    oid: np.ndarray
    item: np.ndarray
    num: np.ndarray
    payment_fen: np.ndarray
    total_fee_fen: np.ndarray


def make_catalogue(rng: np.random.Generator, size: int = 240) -> Catalogue:
    index = np.arange(size)
    category = CATEGORIES[index % len(CATEGORIES)]
    return Catalogue(
        item_id=400_000_000 + index * 97,
        title=np.strings.add(np.strings.add(category, "精选"), (index + 1).astype("U4")),
        category=category,
        price_fen=(rng.lognormal(4.6, 0.6, size) * 100).astype(np.int64) // 100 * 100 + 90,
        sku=np.strings.add("SKU-", np.char.zfill((index + 1).astype("U5"), 5)),
    )


def make_orders(
    spec: WorldSpec,
    people: People,
    members: Members,
    rel: Relations,
    staff_userid: np.ndarray,
    group_chat_id: np.ndarray,
    catalogue: Catalogue,
    rng: np.random.Generator,
) -> tuple[Orders, Items, dict]:
    buyers = np.flatnonzero(people.in_shop)
    persona = people.persona[buyers]
    # Orders per buyer: a geometric chain with a persona's repeat probability; gaps grow dormant buyers.
    count = np.minimum(rng.geometric(1 - PERSONA_REPEAT[persona]), 40)
    first = spec.start_ts + (rng.random(len(buyers)) ** 1.3 * spec.days * DAY_SECONDS).astype(np.int64)
    owner = np.repeat(np.arange(len(buyers)), count)
    step = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    gaps = rng.exponential(PERSONA_ORDER_GAP_DAYS[persona[owner]] * DAY_SECONDS) * (step > 0)
    elapsed = np.cumsum(gaps)
    created = first[owner] + (elapsed - elapsed[np.cumsum(count) - count][owner]).astype(np.int64)
    keep = created < spec.end_ts
    owner, created = owner[keep], created[keep]
    person = buyers[owner]
    order = np.lexsort((person, created))
    person, created = person[order], created[order]
    n = len(person)

    paid = rng.random(n) < 0.95
    pay_time = np.where(paid, created + rng.integers(20, 1800, n), -1)
    consign_time = np.where(paid, pay_time + rng.integers(2 * 3600, 2 * DAY_SECONDS, n), -1)
    success_time = np.where(paid, consign_time + rng.integers(2 * DAY_SECONDS, 8 * DAY_SECONDS, n), -1)

    # Line items: 1-3 per order; bargain hunters buy more units at a discount.
    n_items = rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1])
    item_order = np.repeat(np.arange(n), n_items)
    item = rng.integers(0, len(catalogue.item_id), len(item_order))
    num = 1 + rng.poisson(0.3, len(item_order))
    line_total = catalogue.price_fen[item] * num
    discount = np.minimum(
        PERSONA_DISCOUNT[people.persona[person[item_order]]] * rng.uniform(0.3, 1.7, len(item_order)), 0.6
    )
    line_payment = (line_total * (1 - discount)).astype(np.int64)
    total_fee = np.bincount(item_order, weights=line_total, minlength=n).astype(np.int64)
    goods_payment = np.bincount(item_order, weights=line_payment, minlength=n).astype(np.int64)
    post_fee = np.where(goods_payment < 9900, 1000, 0)

    refund = paid & (rng.random(n) < 0.09)
    full_refund = refund & (rng.random(n) < 0.65)
    refund_fen = np.where(
        full_refund,
        goods_payment + post_fee,
        np.where(refund, (goods_payment * rng.uniform(0.2, 0.6, n)).astype(np.int64), 0),
    )
    refund_time = np.where(refund, consign_time + rng.integers(DAY_SECONDS, 6 * DAY_SECONDS, n), -1)

    # Events after the period have not happened yet.
    for events in (pay_time, consign_time, success_time, refund_time):
        events[events >= spec.end_ts] = -1
    consign_time[pay_time < 0] = -1
    success_time[pay_time < 0] = -1
    refund_time[pay_time < 0] = -1
    refund_fen = np.where(refund_time >= 0, refund_fen, 0)

    # Where the order came from: group members buy from the group, friends from a guide's link.
    source, source_ref, referrals = _attribute(people, members, rel, staff_userid, group_chat_id, person, created, rng)
    phone = people.phone[person].copy()
    shown = rng.choice(3, n, p=[0.68, 0.22, 0.10])  # full, masked, missing
    buyer_typo = (shown == 0) & (rng.random(n) < 0.02)
    phone[buyer_typo] = typo(phone[buyer_typo], rng)
    buyer_phone = np.where(shown == 0, phone, np.where(shown == 1, mask(phone), ""))
    orders = Orders(
        tid=np.strings.add(
            "E",
            np.strings.add(
                (20_250_000_000 + np.arange(n)).astype("U12"), token_strings("", np.arange(n), 41, 8, "digits")
            ),
        ),
        person=person.astype(np.int64),
        created=created,
        pay_time=pay_time,
        consign_time=consign_time,
        success_time=success_time,
        refund_time=refund_time,
        refund_fen=refund_fen.astype(np.int64),
        total_fee_fen=total_fee + post_fee,
        payment_fen=goods_payment + post_fee,
        post_fee_fen=post_fee,
        source=source,
        source_ref=source_ref,
        buyer_phone=buyer_phone,
    )
    items = Items(
        order=item_order.astype(np.int64),
        oid=(1_472_319_870_000_000_000 + np.arange(len(item_order))).astype("U19"),
        item=item.astype(np.int32),
        num=num.astype(np.int32),
        payment_fen=line_payment,
        total_fee_fen=line_total,
    )
    return orders, items, referrals


def _attribute(people, members, rel, staff_userid, group_chat_id, person, created, rng):
    n = len(person)
    # A group the buyer had joined by then, if any.
    by_person = np.argsort(members.person, kind="stable")
    member_person = members.person[by_person]
    first = np.searchsorted(member_person, person)
    in_group = (first < len(member_person)) & (member_person[np.minimum(first, len(member_person) - 1)] == person)
    group_row = by_person[np.minimum(first, len(by_person) - 1)]
    in_group &= members.join_time[group_row] <= created
    # The buyer's first guide, if a friend.
    live_rel = rel.inherited_from < 0
    rel_sorted = np.argsort(rel.person[live_rel], kind="stable")
    rel_person = rel.person[live_rel][rel_sorted]
    rel_guide = rel.guide[live_rel][rel_sorted]
    rel_time = rel.createtime[live_rel][rel_sorted]
    at = np.searchsorted(rel_person, person)
    has_guide = (at < len(rel_person)) & (rel_person[np.minimum(at, len(rel_person) - 1)] == person)
    has_guide &= rel_time[np.minimum(at, len(rel_person) - 1)] <= created

    roll = rng.random(n)
    source = np.full(n, "search", dtype="U11")
    source[roll < 0.55] = "ads"
    source[roll < 0.35] = "moments"
    source[has_guide & (roll < 0.45)] = "guide_share"
    source[in_group & (roll < 0.30)] = "group"
    source_ref = np.full(n, "", dtype="U34")
    source_ref[source == "guide_share"] = staff_userid[rel_guide[np.minimum(at, len(rel_guide) - 1)]][
        source == "guide_share"
    ]
    source_ref[source == "group"] = group_chat_id[members.group[group_row]][source == "group"]

    # Referrals: a buyer's first order can come from an earlier buyer's share link (seed 004 §30).
    order_by_person = np.lexsort((created, person))
    is_first = np.ones(n, bool)
    is_first[order_by_person[1:]] = person[order_by_person[1:]] != person[order_by_person[:-1]]
    candidates = np.flatnonzero(is_first & (np.arange(n) > 0))
    prior = (rng.random(len(candidates)) * candidates).astype(np.int64)  # an earlier order, so an earlier buyer
    referrer = person[prior]
    takes = rng.random(len(candidates)) < PERSONA_REFERRAL[people.persona[referrer]] * 2.0
    takes &= referrer != person[candidates]
    referred = candidates[takes]
    source[referred] = "referral"
    source_ref[referred] = people.yz_open_id[referrer[takes]]
    referrals = {
        "referrer_person": referrer[takes].astype(np.int64),
        "referred_person": person[referred],
        "channel": np.full(len(referred), "share_link"),
        "at": created[referred],
    }
    return source, source_ref, referrals


def make_visits(
    spec: WorldSpec,
    people: People,
    orders: Orders,
    rng: np.random.Generator,
    members=None,
    rel=None,
    staff_userid=None,
    group_chat_id=None,
) -> dict:
    """Shop visits with their source: one before every order, more that end without buying, and anonymous ones.
    A browsing visit from a group names a group the visitor had joined, one from a guide's share names the
    visitor's guide; a visitor with neither came from moments instead."""
    n_orders = len(orders.tid)
    browse_person = np.flatnonzero(people.in_shop | (people.in_wecom & (rng.random(people.size) < 0.3)))
    extra = rng.poisson(2.0, len(browse_person))
    extra_person = np.repeat(browse_person, extra)
    extra_time = spec.start_ts + (rng.random(len(extra_person)) * spec.days * DAY_SECONDS).astype(np.int64)
    extra_source = np.array(["group", "guide_share", "moments", "search", "ads"])[
        rng.choice(5, len(extra_person), p=[0.12, 0.18, 0.2, 0.3, 0.2])
    ]
    extra_ref = np.full(len(extra_person), "", dtype="U34")
    if members is not None:
        extra_source, extra_ref = _browse_refs(
            people, members, rel, staff_userid, group_chat_id, extra_person, extra_time, extra_source
        )
    person = np.concatenate([orders.person, extra_person])
    time = np.concatenate([orders.created - rng.integers(60, 1800, n_orders), extra_time])
    source = np.concatenate([orders.source, extra_source])
    ref = np.concatenate([orders.source_ref, extra_ref])
    order = np.argsort(time, kind="stable")
    person, time, source, ref = person[order], time[order], source[order], ref[order]
    visitor = np.where(people.in_shop[person], people.yz_open_id[person], np.strings.add("anon_", person.astype("U9")))
    return {
        "visit_id": np.strings.add("V", np.arange(len(person)).astype("U10")),
        "visitor_id": visitor,
        "person": person,
        "visit_time": time,
        "source": source,
        "source_ref": ref,
    }


def _browse_refs(people, members, rel, staff_userid, group_chat_id, person, time, source):
    """The group or guide a browsing visit came from: the visitor's first group joined before the visit,
    the visitor's first guide befriended before it; without one the visit came from moments."""
    source = source.copy()
    ref = np.full(len(person), "", dtype="U34")
    by_person = np.argsort(members.person, kind="stable")
    member_person = members.person[by_person]
    at = np.minimum(np.searchsorted(member_person, person), len(member_person) - 1)
    row = by_person[at]
    in_group = (member_person[at] == person) & (members.join_time[row] <= time)
    live_rel = rel.inherited_from < 0
    order = np.argsort(rel.person[live_rel], kind="stable")
    rel_person, rel_guide, rel_time = (a[live_rel][order] for a in (rel.person, rel.guide, rel.createtime))
    at_rel = np.minimum(np.searchsorted(rel_person, person), len(rel_person) - 1)
    has_guide = (rel_person[at_rel] == person) & (rel_time[at_rel] <= time)
    # Group members come to the shop through their group far more often than others: a third of their
    # searches and ad clicks are group links instead (no random draw, so other streams stay unchanged).
    source[in_group & np.isin(source, ["search", "ads"]) & (np.arange(len(person)) % 3 == 0)] = "group"
    group_visit = (source == "group") & in_group
    guide_visit = (source == "guide_share") & has_guide
    ref[group_visit] = group_chat_id[members.group[row]][group_visit]
    ref[guide_visit] = staff_userid[rel_guide[at_rel]][guide_visit]
    source[((source == "group") & ~in_group) | ((source == "guide_share") & ~has_guide)] = "moments"
    return source, ref
