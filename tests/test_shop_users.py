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
