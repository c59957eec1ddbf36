"""What a world is made from: its size, seed and period, and the behaviour parameters of each persona."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np

CHINA_TZ = timezone(timedelta(hours=8))
DAY_SECONDS = 86_400

# Persona types from seed 004 §71 (domain.md §3). Index = persona code stored in truth/persons.
PERSONAS = ("quality_planner", "active_sharer", "lurker", "deep_fan", "bargain_hunter")
PERSONA_NAMES_ZH = ("品质生活家", "活跃分享家", "潜水跟随者", "深粉种草党", "精明消费者")
PERSONA_SHARE = np.array([0.15, 0.12, 0.38, 0.13, 0.22])
# Probability of placing another order after each one: repeat patterns differ by customer type.
PERSONA_REPEAT = np.array([0.62, 0.50, 0.22, 0.70, 0.42])
# Mean days between orders.
PERSONA_ORDER_GAP_DAYS = np.array([40.0, 35.0, 80.0, 30.0, 55.0])
# Probability that a group member of this persona speaks at all, at full group liveliness.
PERSONA_SPEAK = np.array([0.45, 0.95, 0.08, 0.75, 0.35])
# One-to-one conversations with the guide per 30 days of friendship.
PERSONA_CHATS_PER_MONTH = np.array([0.6, 1.2, 0.15, 1.0, 0.4])
# Share of an order's goods value given as discount.
PERSONA_DISCOUNT = np.array([0.03, 0.08, 0.05, 0.06, 0.22])
# Probability of bringing a new buyer through a share link or group invitation.
PERSONA_REFERRAL = np.array([0.04, 0.30, 0.01, 0.12, 0.05])


@dataclass(frozen=True)
class WorldSpec:
    """The parameters that fully determine a world: same spec, same bytes."""

    scale: int
    seed: int
    start: date = date(2025, 1, 1)
    days: int = 365

    @property
    def start_ts(self) -> int:
        return int(datetime(self.start.year, self.start.month, self.start.day, tzinfo=CHINA_TZ).timestamp())

    @property
    def end_ts(self) -> int:
        """Exclusive end of the simulated period; the simulators' default clock."""
        return self.start_ts + self.days * DAY_SECONDS

    @property
    def n_stores(self) -> int:
        return max(3, self.scale // 4000)

    @property
    def guides_per_store(self) -> int:
        return 4

    def rng(self, stream: str) -> np.random.Generator:
        """An independent random stream per part of the world, so parts can change without shifting others."""
        key = sum((i + 1) * ord(ch) for i, ch in enumerate(stream))
        return np.random.default_rng([self.seed, key])
