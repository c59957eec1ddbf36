"""Physical stores: member registrations and POS receipts, with walk-ins and the counter phone."""

from __future__ import annotations

import numpy as np

from siyu_sim.world.people import People, typo
from siyu_sim.world.shop import Catalogue
from siyu_sim.world.spec import DAY_SECONDS, PERSONA_REPEAT, WorldSpec
from siyu_sim.world.wecom import Staff

PLACEHOLDER_PHONES = np.array(["13800000000", "00000000000", "13888888888"])


def make_members(spec: WorldSpec, people: People, rng: np.random.Generator) -> dict:
    person = np.flatnonzero(people.is_member)
    n = len(person)
    registered = spec.start_ts - 200 * DAY_SECONDS + (rng.random(n) * (spec.days + 200) * DAY_SECONDS).astype(np.int64)
    registered = np.minimum(registered, spec.end_ts - 3600)
    phone = people.phone[person].copy()
    flaw = rng.random(n)
    phone[flaw < 0.02] = typo(phone[flaw < 0.02], rng)
    placeholder = (flaw >= 0.02) & (flaw < 0.035)
    phone[placeholder] = PLACEHOLDER_PHONES[rng.integers(0, len(PLACEHOLDER_PHONES), placeholder.sum())]
    second = (flaw >= 0.035) & (flaw < 0.06) & (people.second_phone[person] != "")
    phone[second] = people.second_phone[person][second]
    store = people.home_store[person]
    birthday = (np.datetime64("1965-01-01") + rng.integers(0, 365 * 40, n).astype("timedelta64[D]")).astype("U10")
    return {
        "card_no": np.strings.add("M", np.char.zfill(np.arange(1, n + 1).astype("U9"), 9)),
        "person": person,
        "store": store,
        "phone": phone,
        "name": people.name[person],
        "gender": people.gender[person],
        "birthday": birthday,
        "registered_at": registered,
        "marketing_opt_in": ~people.opted_out[person],
    }


def make_pos(
    spec: WorldSpec,
    people: People,
    members: dict,
    staff: Staff,
    stores: dict,
    catalogue: Catalogue,
    rng: np.random.Generator,
) -> tuple[dict, dict]:
    """Receipts for members (card and phone) and walk-ins (own phone, the counter phone, or none)."""
    m_person = members["person"]
    m_count = rng.geometric(1 - PERSONA_REPEAT[people.persona[m_person]] * 0.9)
    walk = np.flatnonzero(people.is_walk_in)
    w_count = rng.choice([1, 2], len(walk), p=[0.8, 0.2])
    person = np.concatenate([np.repeat(m_person, m_count), np.repeat(walk, w_count)])
    card = np.concatenate([np.repeat(members["card_no"], m_count), np.full(w_count.sum(), "")])
    member_phone = np.concatenate([np.repeat(members["phone"], m_count), np.full(w_count.sum(), "")])
    start = np.concatenate(
        [np.repeat(np.maximum(members["registered_at"], spec.start_ts), m_count), np.full(w_count.sum(), spec.start_ts)]
    )
    ts = start + (rng.random(len(person)) * (spec.end_ts - start)).astype(np.int64)
    # Stores open 10:00-21:00 China time.
    ts = spec.start_ts + (ts - spec.start_ts) // DAY_SECONDS * DAY_SECONDS + rng.integers(10 * 3600, 21 * 3600, len(ts))
    keep = (ts >= spec.start_ts) & (ts < spec.end_ts)
    person, card, member_phone, ts = person[keep], card[keep], member_phone[keep], ts[keep]
    order = np.lexsort((person, ts))
    person, card, member_phone, ts = person[order], card[order], member_phone[order], ts[order]
    n = len(person)
    store = people.home_store[person]
    walk_in = card == ""
    roll = rng.random(n)
    phone = np.where(
        walk_in,
        np.where(roll < 0.3, people.phone[person], np.where(roll < 0.55, stores["counter_phone"][store], "")),
        member_phone,
    )
    guide = store * spec.guides_per_store + rng.integers(0, spec.guides_per_store, n)
    guide = np.where((staff.resigned_at[guide] > 0) & (ts >= staff.resigned_at[guide]), staff.takeover[guide], guide)
    receipts = {
        "receipt_no": np.strings.add(np.strings.add(stores["store_id"][store], "-"), np.arange(1, n + 1).astype("U10")),
        "person": person,
        "store": store,
        "ts": ts,
        "card_no": card,
        "phone": phone,
        "guide": guide,
    }
    lines_per = rng.choice([1, 2, 3, 4], n, p=[0.5, 0.3, 0.15, 0.05])
    receipt = np.repeat(np.arange(n), lines_per)
    item = rng.integers(0, len(catalogue.item_id), len(receipt))
    qty = 1 + rng.poisson(0.25, len(receipt))
    # Returns: a negative quantity of something bought before, on a later receipt.
    is_return = rng.random(len(receipt)) < 0.03
    qty = np.where(is_return, -1, qty)
    price = catalogue.price_fen[item]
    amount = price * qty
    lines = {
        "receipt": receipt,
        "line_no": np.arange(len(receipt)) - np.repeat(np.cumsum(lines_per) - lines_per, lines_per) + 1,
        "item": item,
        "qty": qty,
        "unit_price_fen": price,
        "amount_fen": amount,
    }
    return receipts, lines
