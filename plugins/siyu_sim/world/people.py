"""True persons: who they are, which channels know them, and the identifiers each channel holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siyu_sim.world.ids import phone_numbers, token_strings
from siyu_sim.world.spec import PERSONA_SHARE, WorldSpec

SURNAMES = np.array(
    list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
)
GIVEN = np.array(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红梅鹏飞琳雪婷宇浩晨欣怡佳然子涵梓轩一诺"))


@dataclass
class People:
    persona: np.ndarray  # int8 code into spec.PERSONAS
    home_store: np.ndarray  # int32 store index
    name: np.ndarray
    gender: np.ndarray  # 0 unknown, 1 male, 2 female (WeCom enum)
    phone: np.ndarray  # primary mobile, unique per person
    second_phone: np.ndarray  # '' for most
    is_wechat_user: np.ndarray  # WeCom external contact type 1 (else type 2, a WeCom user)
    unionid: np.ndarray  # every WeChat user has one; sources may not expose it
    external_userid: np.ndarray
    openid: np.ndarray  # mini-program openid, seen by the shop as outer_user_id
    yz_open_id: np.ndarray
    in_wecom: np.ndarray
    in_shop: np.ndarray
    is_member: np.ndarray
    is_walk_in: np.ndarray
    opted_out: np.ndarray
    liveliness_bias: np.ndarray  # per-person activity multiplier

    @property
    def size(self) -> int:
        return len(self.persona)


def make_people(spec: WorldSpec) -> People:
    rng = spec.rng("people")
    n = spec.scale
    keys = np.arange(n, dtype=np.int64)
    persona = rng.choice(len(PERSONA_SHARE), size=n, p=PERSONA_SHARE).astype(np.int8)
    # Stores differ in size: a few flagship stores hold many customers.
    store_weight = rng.pareto(2.5, spec.n_stores) + 1.0
    home_store = rng.choice(spec.n_stores, size=n, p=store_weight / store_weight.sum()).astype(np.int32)
    name = np.strings.add(
        np.strings.add(SURNAMES[rng.integers(0, len(SURNAMES), n)], GIVEN[rng.integers(0, len(GIVEN), n)]),
        np.where(rng.random(n) < 0.6, GIVEN[rng.integers(0, len(GIVEN), n)], ""),
    )
    gender = rng.choice(3, size=n, p=[0.05, 0.35, 0.60]).astype(np.int8)
    phone = phone_numbers(keys, rng)
    has_second = rng.random(n) < 0.08
    second_phone = np.where(has_second, phone_numbers(keys + 50_000_000, rng), "")
    is_wechat_user = rng.random(n) < 0.97

    # Channel presence. Every person is known to at least one channel.
    in_wecom = rng.random(n) < 0.62
    in_shop = rng.random(n) < np.where(persona == 2, 0.40, 0.55)
    is_member = rng.random(n) < 0.30
    nobody = ~(in_wecom | in_shop | is_member)
    walk_in = nobody & (rng.random(n) < 0.5)
    in_shop = in_shop | (nobody & ~walk_in)
    return People(
        persona=persona,
        home_store=home_store,
        name=name,
        gender=gender,
        phone=phone,
        second_phone=second_phone,
        is_wechat_user=is_wechat_user,
        unionid=token_strings("oU", keys, salt=11, length=26),
        external_userid=np.where(
            is_wechat_user,
            token_strings("wm", keys, salt=12, length=30),
            token_strings("wo", keys, salt=12, length=30),
        ),
        openid=token_strings("oWx", keys, salt=13, length=25),
        yz_open_id=token_strings("", keys, salt=14, length=26, alphabet="digits"),
        in_wecom=in_wecom,
        in_shop=in_shop,
        is_member=is_member,
        is_walk_in=walk_in | (~is_member & (rng.random(n) < 0.10)),
        opted_out=rng.random(n) < 0.05,
        liveliness_bias=rng.gamma(2.0, 0.5, n),
    )


def typo(numbers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One wrong digit, as when a phone is typed by hand; never the first three digits."""
    if len(numbers) == 0:
        return numbers
    as_bytes = numbers.astype("S11").view(np.uint8).reshape(-1, 11).copy()
    position = rng.integers(3, 11, len(numbers))
    rows = np.arange(len(numbers))
    shift = rng.integers(1, 10, len(numbers))
    as_bytes[rows, position] = (as_bytes[rows, position] - 48 + shift) % 10 + 48
    return as_bytes.view("S11").ravel().astype("U11")


def mask(numbers: np.ndarray) -> np.ndarray:
    """Youzan masks buyer phones as 138****1234."""
    return np.strings.add(np.strings.add(np.strings.slice(numbers, 0, 3), "****"), np.strings.slice(numbers, 7, 11))
