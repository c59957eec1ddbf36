"""The WeCom and Youzan connectors against the simulators: complete paging, cached tokens, and under
heavy fault injection exactly the same data as without faults."""

from __future__ import annotations

import itertools

import httpx
import pytest
from siyu_sim.faults import FAULT_KINDS

from siyu.connectors.http import RequestBudget, RequestBudgetExceeded
from siyu.connectors.wecom import DAY, WeComClient, WeComConfig, chunks, day_windows
from siyu.connectors.youzan import YouzanClient, YouzanConfig


def test_userids_are_batched_by_100_and_windows_stay_within_30_days():
    assert [len(batch) for batch in chunks([f"u{i}" for i in range(250)], 100)] == [100, 100, 50]
    windows = list(day_windows(0, 99 * DAY))
    assert windows[0] == (0, 29 * DAY) and windows[-1][1] == 99 * DAY
    assert all(end - begin <= 29 * DAY for begin, end in windows)
    assert all(b == a_end + DAY for (_, a_end), (b, _) in itertools.pairwise(windows))


def wecom(sim, **overrides) -> WeComClient:
    creds = sim.credentials
    config = WeComConfig(
        base_url=sim.base_url,
        corp_id=creds["corp_id"],
        corp_secret=creds["corp_secret"],
        max_wait_seconds=0.05,
        **overrides,
    )
    return WeComClient(config)


def youzan(sim, **overrides) -> YouzanClient:
    creds = sim.credentials
    config = YouzanConfig(
        base_url=sim.base_url,
        client_id=creds["youzan_client_id"],
        client_secret=creds["youzan_client_secret"],
        kdt_id=creds["youzan_kdt_id"],
        max_wait_seconds=0.05,
        **overrides,
    )
    return YouzanClient(config)


def snapshot(sim) -> dict:
    """Everything a daily WeCom and shop pull reads, in comparable form."""
    today = sim.sims.state.today_start
    with (
        wecom(sim, timeout_seconds=0.5, max_attempts=30) as client,
        youzan(sim, timeout_seconds=0.5, max_attempts=30) as shop,
    ):
        users = sorted(client.follow_users())
        pairs = sorted(
            (c["follow_info"]["userid"], c["external_contact"]["external_userid"], c["follow_info"]["createtime"])
            for c in client.contacts_by_user(users, limit=10)
        )
        chats = sorted(c["chat_id"] for c in client.group_chat_ids(limit=5))
        members = sorted((chat, m["userid"]) for chat in chats for m in client.group_chat(chat)["member_list"])
        stats = sorted(tuple(sorted(row.items())) for row in client.group_statistic(today - DAY, users))
        behaviour = sorted(
            tuple(sorted(r.items())) for r in client.user_behavior(users[0], today - 40 * DAY, today - DAY)
        )
        orders = sorted(
            (o["order_info"]["tid"], o["order_info"]["update_time"], o["pay_info"]["payment"])
            for o in shop.orders_updated(today - 20 * DAY, today - 1)
        )
    return {
        "users": users,
        "pairs": pairs,
        "chats": chats,
        "members": members,
        "stats": stats,
        "behaviour": behaviour,
        "orders": orders,
    }


@pytest.mark.integration
def test_connectors_read_everything_once_and_cache_tokens(sim):
    issued_before = httpx.get(f"{sim.base_url}/_sim/stats").json()["tokens_issued"]["wecom"]
    data = snapshot(sim)
    assert len(data["pairs"]) == len(sim.sims.state.live_relations) == len(set(data["pairs"]))
    assert len(data["chats"]) == len(sim.sims.state.groups)
    assert len(data["behaviour"]) == 40, "a 40-day range takes two calls of at most 30 days"
    orders = sim.sims.state.orders_as_of()
    today = sim.sims.state.today_start
    expected = orders[(orders["update_time"] >= today - 20 * DAY) & (orders["update_time"] <= today - 1)]
    assert len(data["orders"]) == len(expected) > 0
    stats = httpx.get(f"{sim.base_url}/_sim/stats").json()
    assert stats["tokens_issued"]["wecom"] - issued_before <= 1, "the token is cached across calls and clients"


@pytest.mark.integration
def test_a_run_with_over_100_faults_reads_exactly_what_a_clean_run_reads(sim):
    clean = snapshot(sim)
    httpx.post(f"{sim.base_url}/_sim/faults", json={"rate": 0.4, "seed": 11, "timeout_seconds": 0.8, "reset": True})
    faulty = snapshot(sim)
    summary = httpx.get(f"{sim.base_url}/_sim/stats").json()["faults"]
    assert summary["total_injected"] >= 100, summary
    assert set(summary["injected"]) == {
        "rate_limit",
        "concurrency",
        "token_invalidated",
        "server_error",
        "timeout",
        "slow",
        "malformed_json",
    }
    assert faulty == clean


@pytest.mark.integration
def test_short_pages_and_repeated_cursors_among_transport_faults_are_read_again_to_the_same_data(sim):
    """GIVEN every fault kind a page can recover from, short pages and handed-back cursors included, at
    rate 0.3 WHEN everything is pulled THEN the data equals a clean run's: odd pages were read again."""
    clean = snapshot(sim)
    plan = sim.sims.faults
    try:
        with plan.lock:
            plan.rate, plan.seed, plan.counter, plan.injected = 0.3, 17, 0, {}
            plan.kinds = (*FAULT_KINDS, "short_page", "repeat_cursor")
            plan.timeout_seconds = 0.8
        faulty = snapshot(sim)
        summary = plan.summary()
    finally:
        plan.clear()
        plan.timeout_seconds = 3.0
    assert summary["injected"].get("short_page", 0) >= 10 and summary["injected"].get("repeat_cursor", 0) >= 10
    assert faulty == clean


@pytest.mark.integration
def test_the_request_budget_stops_a_runaway_run(sim):
    client = wecom(sim)
    client.budget = RequestBudget(limit=3)
    with pytest.raises(RequestBudgetExceeded):
        list(client.contacts_by_user(client.follow_users(), limit=10))


@pytest.mark.integration
def test_a_wrong_secret_fails_fast_with_the_errcode(sim):
    creds = sim.credentials
    client = WeComClient(WeComConfig(base_url=sim.base_url, corp_id=creds["corp_id"], corp_secret="wrong"))
    with pytest.raises(Exception, match="errcode 40001") as raised:
        client.follow_users()
    assert "wrong" not in str(raised.value), "the secret never appears in errors"


@pytest.mark.integration
def test_contact_ways_unassigned_and_transfers_page_to_the_end(sim):
    state = sim.sims.state
    with wecom(sim) as client:
        ways = list(client.contact_way_ids(state.meta["start_ts"] - 90 * DAY, state.now))
        assert len(ways) == len(state.contact_ways)
        assert client.contact_way(ways[0])["state"]
        waiting = list(client.unassigned())
        transfers = state.transfers
        expected = transfers[(transfers["dimission_time"] <= state.now) & transfers["takeover_time"].isna()]
        assert len(waiting) == len(expected)
        done = transfers[transfers["status"] == 1].iloc[0]
        results = list(client.transfer_results(done["handover_userid"], done["takeover_userid"]))
        assert {r["external_userid"] for r in results} >= {done["external_userid"]}


def test_a_window_with_more_orders_than_paging_reaches_is_split_and_read_whole(sim, monkeypatch, caplog):
    """Youzan pages at most MAX_PAGES × PAGE_SIZE orders per query. With the cap lowered to 2 pages (200
    orders) the simulator's year of orders cannot come in one window: the connector halves windows until
    each fits, and reads exactly the orders one uncapped read of the same window returns, each once."""
    import logging

    from siyu.connectors import youzan as youzan_module

    state = sim.sims.state
    first, last = state.meta["start_ts"], state.today_start - 1
    orders = state.orders_as_of()
    expected = set(orders.loc[(orders["update_time"] >= first) & (orders["update_time"] <= last), "tid"])
    assert len(expected) > 2 * youzan_module.PAGE_SIZE * 5, "enough orders to need several splits"
    with youzan(sim) as shop:
        whole = [order["order_info"]["tid"] for order in shop.orders_updated(first, last)]
    assert set(whole) == expected

    monkeypatch.setattr(youzan_module, "MAX_PAGES", 2)
    with caplog.at_level(logging.INFO, logger=youzan_module.__name__), youzan(sim) as shop:
        split = [order["order_info"]["tid"] for order in shop.orders_updated(first, last)]
    splits = [record for record in caplog.records if "splitting the window" in record.getMessage()]
    assert len(splits) >= 5
    assert len(split) == len(set(split)) and set(split) == expected
