"""The daily shop ingest asks users.info.query only for buyers it has not looked up recently (issue 22):
one call per buyer is what dominates landing at scale, and yesterday's links are already in the lake.
Counted over real HTTP against the Youzan simulator."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from siyu.connectors.youzan import YouzanClient, YouzanConfig
from siyu.ingest import shop
from siyu.ingest.run_day import RunDay

pytestmark = pytest.mark.integration

USERS_METHOD = "youzan.users.info.query"
DAY = date(2025, 6, 1)


def client_for(sim) -> YouzanClient:
    creds = sim.credentials
    return YouzanClient(
        YouzanConfig(
            base_url=sim.base_url,
            client_id=creds["youzan_client_id"],
            client_secret=creds["youzan_client_secret"],
            kdt_id=creds["youzan_kdt_id"],
            max_wait_seconds=0.01,
            timeout_seconds=5.0,
        )
    )


def lookups(sim) -> int:
    return sim.sims.youzan.calls.get(USERS_METHOD, 0)


def pull(sim, lake, day: date, buyers: list[str]) -> tuple[int, set[str]]:
    """Calls made by one day's pull_users, and the buyers its partition holds."""
    before = lookups(sim)
    with client_for(sim) as client:
        shop.pull_users(client, lake, RunDay(day, f"test-{day}"), buyers)
    landed = pq.read_table(lake / "raw/shop/users" / f"dt={day}").column("yz_open_id").to_pylist()
    return lookups(sim) - before, set(landed)


@pytest.fixture()
def buyers(small_world) -> list[str]:
    orders = pd.read_parquet(small_world / "shop/orders.parquet")
    return sorted(orders["yz_open_id"].dropna().unique())[:6]


def test_a_buyer_looked_up_yesterday_is_not_asked_again_today(sim, tmp_path, buyers):
    lake = tmp_path / "lake"
    calls, landed = pull(sim, lake, DAY, buyers[:4])
    assert calls == 4 and landed == set(buyers[:4])

    # The next day three buyers come back and two are new: only the new two are asked.
    calls, landed = pull(sim, lake, DAY + timedelta(days=1), buyers[1:6])
    assert calls == 2
    assert landed == set(buyers[4:6])


def test_a_rerun_of_the_same_day_asks_again_and_keeps_its_rows(sim, tmp_path, buyers):
    lake = tmp_path / "lake"
    pull(sim, lake, DAY, buyers[:2])
    first_calls, first = pull(sim, lake, DAY + timedelta(days=1), buyers[:4])
    again_calls, again = pull(sim, lake, DAY + timedelta(days=1), buyers[:4])
    # The day's own partition is replaced by the rerun, so it must not count as "already looked up".
    assert first_calls == again_calls == 2
    assert first == again == set(buyers[2:4])


def test_a_buyer_is_asked_again_after_the_refresh_period(sim, tmp_path, buyers):
    lake = tmp_path / "lake"
    pull(sim, lake, DAY, buyers[:3])
    within, _ = pull(sim, lake, DAY + timedelta(days=shop.USERS_REFRESH_DAYS), buyers[:3])
    assert within == 0
    later, landed = pull(sim, lake, DAY + timedelta(days=shop.USERS_REFRESH_DAYS + 1), buyers[:1])
    # The day-0 lookup is now older than the refresh period; the day-30 partition holds no row for her.
    assert later == 1 and landed == {buyers[0]}


def test_the_days_scheduled_pull_after_a_history_pull_keeps_the_history(sim, tmp_path):
    """README: a brand gives the shop its history (conf start/end) on its first day, and the day's scheduled
    run (or a retry) then pulls the same day. Both land in the run day's partition: the second must add the
    day's state to the year, not replace a year of orders and buyers with one day's."""
    lake = tmp_path / "lake"
    state = sim.sims.state
    last_day = date.fromisoformat(state.meta["start"]) + timedelta(
        days=(state.meta["end_ts"] - state.meta["start_ts"]) // 86_400 - 1
    )
    run = RunDay(last_day, "history")
    with client_for(sim) as client:
        # GIVEN the year pulled by a history run
        history = shop.pull_orders(client, lake, run, window=(state.meta["start_ts"], state.meta["end_ts"] - 1))
        year = pq.read_table(lake / "raw/shop/orders" / f"dt={last_day}").column("tid").to_pylist()
        buyers = sorted(
            {
                b
                for b in pq.read_table(lake / "raw/shop/orders" / f"dt={last_day}").column("yz_open_id").to_pylist()
                if b
            }
        )[:5]
        shop.pull_users(client, lake, run, buyers)
        # WHEN the scheduled run of the same day pulls its own window (the day and the lookback)
        shop.pull_orders(client, lake, RunDay(last_day, "scheduled"))
        shop.pull_users(client, lake, RunDay(last_day, "scheduled"), buyers[:1])
        # (what the day's window alone brings, into a lake of its own)
        daily = shop.pull_orders(client, tmp_path / "day-only", RunDay(last_day, "scheduled"))
    after = pq.read_table(lake / "raw/shop/orders" / f"dt={last_day}").column("tid").to_pylist()
    users = pq.read_table(lake / "raw/shop/users" / f"dt={last_day}").column("yz_open_id").to_pylist()
    # THEN every order of the year is still there, once, and every buyer looked up
    assert daily["orders"] > 0 and history["orders"] > 10 * daily["orders"]
    assert sorted(after) == sorted(year) and len(set(after)) == len(after)
    assert sorted(users) == buyers
