"""Customer groups (客户群): owners, members joining and leaving, and what they say in the group."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siyu_sim.world.ids import token_strings
from siyu_sim.world.people import People
from siyu_sim.world.spec import DAY_SECONDS, PERSONA_REFERRAL, PERSONA_SPEAK, WorldSpec
from siyu_sim.world.wecom import Relations, Staff

PHRASES = np.array(
    [
        "早上好",
        "这个有货吗",
        "已下单",
        "谢谢分享",
        "好用!",
        "什么时候发货",
        "求链接",
        "收到",
        "赞",
        "今天有活动吗",
        "我也想要",
        "价格多少",
        "用了一周效果不错",
        "[图片]",
        "拼单吗",
        "好的",
    ]
)
GUIDE_PHRASES = np.array(
    [
        "今日新品上架",
        "限时秒杀 10 点开始",
        "会员日福利",
        "欢迎新朋友",
        "直播预告",
        "晒单有礼",
        "护肤小课堂",
        "周末到店有惊喜",
    ]
)


@dataclass
class Groups:
    chat_id: np.ndarray
    name: np.ndarray
    owner: np.ndarray  # original owner guide index
    create_time: np.ndarray
    liveliness: np.ndarray  # 0 dead .. 1 lively
    new_owner: np.ndarray  # guide index after inheritance, -1 if none
    owner_changed_at: np.ndarray  # -1 if never


@dataclass
class Members:
    """One row per external member joining a group (internal owners are added by the API layer)."""

    group: np.ndarray
    person: np.ndarray
    join_time: np.ndarray
    join_scene: np.ndarray  # 1 invited by a member, 2 invite link, 3 scanned the group QR
    invitor_guide: np.ndarray  # guide index for join_scene 1, else -1
    referrer: np.ndarray  # person who brought them (fission), -1 if none
    leave_time: np.ndarray  # -1 if still in


@dataclass
class Messages:
    """Messages of the session archive: group messages (group >= 0) and one-to-one chats (group = -1)."""

    sender_person: np.ndarray  # -1 when a guide sent it
    sender_guide: np.ndarray  # -1 when a customer sent it
    peer_person: np.ndarray  # 1:1 customer a guide wrote to, -1 otherwise
    peer_guide: np.ndarray  # 1:1 guide a customer wrote to, -1 otherwise
    group: np.ndarray
    msgtime_ms: np.ndarray
    phrase: np.ndarray


def make_groups(spec: WorldSpec, staff: Staff, rng: np.random.Generator) -> Groups:
    per_guide = 3
    owner = np.repeat(np.arange(len(staff.userid)), per_guide)
    n = len(owner)
    latest = np.where(
        staff.resigned_at[owner] > 0, staff.resigned_at[owner] - 7 * DAY_SECONDS, spec.end_ts - 30 * DAY_SECONDS
    )
    create_time = (
        spec.start_ts
        - 60 * DAY_SECONDS
        + (rng.random(n) * (latest - spec.start_ts + 60 * DAY_SECONDS)).astype(np.int64)
    )
    resigned = staff.resigned_at[owner] > 0
    changed = np.where(resigned, staff.resigned_at[owner] + DAY_SECONDS, -1)
    changed = np.where(changed >= spec.end_ts, -1, changed)
    return Groups(
        chat_id=token_strings("wr", np.arange(n), salt=31, length=28),
        name=np.strings.add(np.strings.add(staff.name[owner], "的福利群"), (np.arange(n) % per_guide + 1).astype("U2")),
        owner=owner.astype(np.int32),
        create_time=create_time.astype(np.int64),
        liveliness=rng.beta(0.7, 2.2, n),  # most groups quiet, a few lively
        new_owner=np.where(changed > 0, staff.takeover[owner], -1).astype(np.int32),
        owner_changed_at=changed.astype(np.int64),
    )


def make_members(spec: WorldSpec, people: People, groups: Groups, rel: Relations, rng: np.random.Generator) -> Members:
    """Members come from the owner's friends; some bring friends of their own (fission)."""
    first_rel = rel.inherited_from < 0
    by_guide = np.argsort(rel.guide[first_rel], kind="stable")
    rel_person = rel.person[first_rel][by_guide]
    rel_time = rel.createtime[first_rel][by_guide]
    guide_start = np.searchsorted(rel.guide[first_rel][by_guide], np.arange(groups.owner.max() + 2))
    friends = guide_start[groups.owner + 1] - guide_start[groups.owner]
    share = rng.uniform(0.05, 0.45, len(groups.owner))
    size = np.minimum(friends, np.maximum(3, (friends * share).astype(np.int64)))
    group = np.repeat(np.arange(len(size)), size)
    pick = (rng.random(len(group)) * friends[group]).astype(np.int64) + guide_start[groups.owner[group]]
    person, friend_since = rel_person[pick], rel_time[pick]
    # One membership per person and group.
    key = np.unique(group.astype(np.int64) * (people.size + 1) + person, return_index=True)[1]
    group, person, friend_since = group[key], person[key], friend_since[key]
    n = len(group)
    earliest = np.maximum(groups.create_time[group], friend_since)
    join_time = earliest + (rng.random(n) * np.maximum(spec.end_ts - earliest, 1) * 0.9).astype(np.int64)
    join_scene = rng.choice([1, 2, 3], n, p=[0.45, 0.25, 0.30]).astype(np.int8)
    invitor = np.where(join_scene == 1, groups.owner[group], -1).astype(np.int32)

    # Fission: members who like to share bring people who were not in the group, through the invite link.
    brings = rng.random(n) < PERSONA_REFERRAL[people.persona[person]] * 1.5
    referrer = person[brings]
    new_group = group[brings]
    new_person = rng.integers(0, people.size, len(referrer))
    new_join = join_time[brings] + (rng.random(len(referrer)) * (spec.end_ts - join_time[brings])).astype(np.int64)
    group = np.concatenate([group, new_group])
    person = np.concatenate([person, new_person])
    join_time = np.concatenate([join_time, np.minimum(new_join, spec.end_ts - 60)])
    join_scene = np.concatenate([join_scene, np.full(len(referrer), 2, np.int8)])
    invitor = np.concatenate([invitor, np.full(len(referrer), -1, np.int32)])
    referrers = np.concatenate([np.full(n, -1), referrer])
    key = np.unique(group.astype(np.int64) * (people.size + 1) + person, return_index=True)[1]
    group, person, join_time, join_scene, invitor, referrers = (
        group[key],
        person[key],
        join_time[key],
        join_scene[key],
        invitor[key],
        referrers[key],
    )
    referrers = np.where(referrers == person, -1, referrers)
    leave = rng.random(len(group)) < 0.12
    leave_time = np.where(leave, join_time + (rng.random(len(group)) * (spec.end_ts - join_time)).astype(np.int64), -1)
    return Members(
        group.astype(np.int32),
        person.astype(np.int64),
        join_time.astype(np.int64),
        join_scene,
        invitor,
        referrers.astype(np.int64),
        leave_time.astype(np.int64),
    )


def owner_at(groups: Groups, group: np.ndarray, ts: np.ndarray) -> np.ndarray:
    changed = (groups.owner_changed_at[group] > 0) & (ts >= groups.owner_changed_at[group])
    return np.where(changed, groups.new_owner[group], groups.owner[group])


def make_group_messages(
    spec: WorldSpec, people: People, groups: Groups, members: Members, rng: np.random.Generator
) -> Messages:
    live = groups.liveliness[members.group]
    persona = people.persona[members.person]
    speaks = rng.random(len(live)) < PERSONA_SPEAK[persona] * live * np.minimum(
        people.liveliness_bias[members.person], 2
    )
    count = np.where(speaks, 1 + rng.poisson(2 + 25 * live * PERSONA_SPEAK[persona]), 0)
    row = np.repeat(np.arange(len(live)), count)
    start = members.join_time[row]
    stop = np.where(members.leave_time[row] > 0, members.leave_time[row], spec.end_ts)
    ts = start + (rng.random(len(row)) * (stop - start)).astype(np.int64)
    # The owner (a guide) posts too: lively groups more.
    posts = rng.poisson(np.maximum(groups.liveliness * 120, 2))
    post_group = np.repeat(np.arange(len(posts)), posts)
    begin = np.maximum(groups.create_time[post_group], spec.start_ts)
    post_ts = begin + (rng.random(len(post_group)) * (spec.end_ts - begin)).astype(np.int64)
    post_guide = owner_at(groups, post_group, post_ts)
    customer = Messages(
        sender_person=members.person[row],
        sender_guide=np.full(len(row), -1, np.int32),
        peer_person=np.full(len(row), -1, np.int64),
        peer_guide=np.full(len(row), -1, np.int32),
        group=members.group[row],
        msgtime_ms=ts * 1000 + rng.integers(0, 1000, len(row)),
        phrase=PHRASES[rng.integers(0, len(PHRASES), len(row))],
    )
    guide = Messages(
        sender_person=np.full(len(post_group), -1, np.int64),
        sender_guide=post_guide.astype(np.int32),
        peer_person=np.full(len(post_group), -1, np.int64),
        peer_guide=np.full(len(post_group), -1, np.int32),
        group=post_group.astype(np.int32),
        msgtime_ms=post_ts * 1000 + rng.integers(0, 1000, len(post_group)),
        phrase=GUIDE_PHRASES[rng.integers(0, len(GUIDE_PHRASES), len(post_group))],
    )
    # Only messages inside the period are archived.
    merged = concat_messages(customer, guide)
    inside = (merged.msgtime_ms >= spec.start_ts * 1000) & (merged.msgtime_ms < spec.end_ts * 1000)
    return select_messages(merged, inside)


def concat_messages(*parts: Messages) -> Messages:
    return Messages(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in Messages.__dataclass_fields__})


def select_messages(messages: Messages, mask: np.ndarray) -> Messages:
    return Messages(**{f: getattr(messages, f)[mask] for f in Messages.__dataclass_fields__})
