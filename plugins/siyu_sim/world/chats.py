"""One-to-one conversations between guides and their customers, as the session archive records them."""

from __future__ import annotations

import numpy as np

from siyu_sim.world.community import Messages
from siyu_sim.world.people import People
from siyu_sim.world.spec import DAY_SECONDS, PERSONA_CHATS_PER_MONTH, WorldSpec
from siyu_sim.world.wecom import Relations

CUSTOMER_LINES = np.array(["在吗", "这个还有吗", "收到了谢谢", "怎么用呀", "有优惠吗", "好的", "[图片]", "发货了吗"])
GUIDE_LINES = np.array(
    [
        "您好，我是您的专属导购",
        "新品到了给您留了一份",
        "本周会员日有折扣",
        "使用方法发您了",
        "已经帮您催发货",
        "好的，随时找我",
        "给您申请了优惠券",
        "周末欢迎到店试用",
    ]
)


def make_chats(spec: WorldSpec, people: People, rel: Relations, rng: np.random.Generator) -> Messages:
    """Each conversation stays inside one day (08:00-20:00 start, replies within three hours), so daily
    statistics are a plain function of the messages."""
    stop = np.where(rel.ended_at > 0, rel.ended_at, spec.end_ts)
    live_days = np.maximum((stop - rel.createtime) // DAY_SECONDS, 0)
    rate = PERSONA_CHATS_PER_MONTH[people.persona[rel.person]] * np.minimum(people.liveliness_bias[rel.person], 2.5)
    count = rng.poisson(rate * live_days / 30)
    conv_rel = np.repeat(np.arange(len(count)), count)
    n = len(conv_rel)
    day = (
        (rel.createtime[conv_rel] - spec.start_ts) // DAY_SECONDS
        + 1
        + (rng.random(n) * live_days[conv_rel]).astype(np.int64)
    )
    t0 = spec.start_ts + day * DAY_SECONDS + rng.integers(8 * 3600, 20 * 3600, n)
    # A conversation ends within four hours; none may outlive the friendship or the period.
    inside = t0 + 4 * 3600 < stop[conv_rel]
    conv_rel, day, t0 = conv_rel[inside], day[inside], t0[inside]
    n = len(conv_rel)
    customer_first = rng.random(n) < 0.35
    replied = np.where(customer_first, rng.random(n) < 0.85, rng.random(n) < 0.45)
    delay = np.minimum(rng.exponential(25 * 60, n).astype(np.int64) + 30, 3 * 3600)
    guide_more = rng.poisson(0.7, n)
    guide_person = rel.guide[conv_rel]
    person = rel.person[conv_rel]

    parts = []

    def emit(mask: np.ndarray, sender_is_guide: bool, at: np.ndarray, lines: np.ndarray) -> None:
        rows = np.flatnonzero(mask)
        parts.append(
            Messages(
                sender_person=np.full(len(rows), -1, np.int64) if sender_is_guide else person[rows],
                sender_guide=guide_person[rows] if sender_is_guide else np.full(len(rows), -1, np.int32),
                peer_person=person[rows] if sender_is_guide else np.full(len(rows), -1, np.int64),
                peer_guide=np.full(len(rows), -1, np.int32) if sender_is_guide else guide_person[rows],
                group=np.full(len(rows), -1, np.int32),
                msgtime_ms=at[rows] * 1000 + rng.integers(0, 1000, len(rows)),
                phrase=lines[rng.integers(0, len(lines), len(rows))],
            )
        )

    emit(customer_first, False, t0, CUSTOMER_LINES)
    emit(~customer_first, True, t0, GUIDE_LINES)
    emit(customer_first & replied, True, t0 + delay, GUIDE_LINES)
    emit(~customer_first & replied, False, t0 + delay, CUSTOMER_LINES)
    for extra in range(1, 3):
        emit(guide_more >= extra, True, t0 + delay + 60 * extra, GUIDE_LINES)
    merged = Messages(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in Messages.__dataclass_fields__})
    inside = merged.msgtime_ms < spec.end_ts * 1000
    return Messages(**{f: getattr(merged, f)[inside] for f in Messages.__dataclass_fields__})
