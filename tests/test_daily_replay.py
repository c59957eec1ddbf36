"""The daily bench (siyu_sim.daily) replays a brand's days one by one: history landed up to day D-1, then
day D landed as the daily DAGs land it. If a day's landing did not bring that day's data, the bench would
time daily runs over a lake that never changes."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
from siyu_sim.daily import DayNotLanded, check_day_landed, land_day, land_history

from siyu.lake import partition_dir

DAY_SECONDS = 86_400
PULLED_AFTER_END_SECONDS = 60  # siyu_sim.daily lands a day a minute after it ends


def lake_tids(lake) -> set[str]:
    return {
        tid
        for path in (lake / "raw" / "shop" / "orders").glob("dt=*/part-0.parquet")
        for tid in pq.read_table(path, columns=["tid"]).column(0).to_pylist()
    }


def created_on(world, start_ts: int, number: int, settled: bool = False) -> set[str]:
    """Orders the world created on day `number`; with `settled`, only those with no event (payment,
    shipping, success, refund, the 30-minute expiry of an unpaid order) in the minute between the day's end
    and the pull: the day's pull must bring them (one paid after midnight is the next day's)."""
    orders = pd.read_parquet(world / "shop" / "orders.parquet")
    begin = start_ts + number * DAY_SECONDS
    end = begin + DAY_SECONDS
    chosen = (orders["created"] >= begin) & (orders["created"] < end)
    if settled:
        for column in ("pay_time", "consign_time", "success_time", "refund_time"):
            chosen &= ~orders[column].between(end, end + PULLED_AFTER_END_SECONDS)
        expiry = orders["created"] + 1800
        chosen &= orders["pay_time"].notna() | ~expiry.between(end, end + PULLED_AFTER_END_SECONDS)
    return set(orders.loc[chosen, "tid"])


@pytest.mark.integration
def test_a_landed_day_brings_that_days_orders_store_files_and_statistics(small_world, sim, tmp_path):
    # GIVEN the small world's history landed up to day D-1, D being its third-last day
    state = sim.sims.state
    start_ts, days = state.meta["start_ts"], state.meta["days"]
    day_d = days - 3
    d_dt = (date.fromisoformat(state.meta["start"]) + timedelta(days=day_d)).isoformat()
    lake, drops = tmp_path / "lake", tmp_path / "drops"
    land_history(sim, small_world, lake, drops, day_d - 1)
    orders_of_d = created_on(small_world, start_ts, day_d)
    assert orders_of_d, "the world has no order on day D: pick another day"
    assert not orders_of_d & lake_tids(lake)  # the history pull stopped at D-1's end
    assert not partition_dir(lake, "raw", "store", "pos_lines", d_dt).exists()
    state.set_clock(start_ts + (day_d + 1) * DAY_SECONDS + 60)  # day D is over, and not landed yet
    with pytest.raises(DayNotLanded):  # the check sees it
        check_day_landed(small_world, lake, state, day_d)

    # WHEN day D is landed as the daily DAGs land it
    counts = land_day(sim, small_world, lake, drops, day_d)

    # THEN every order created and settled on D is in D's partition, none created on D+1 (the clock stood at
    # D's end)
    in_d_partition = set(
        pq.read_table(partition_dir(lake, "raw", "shop", "orders", d_dt) / "part-0.parquet", columns=["tid"])
        .column(0)
        .to_pylist()
    )
    settled_on_d = created_on(small_world, start_ts, day_d, settled=True)
    assert settled_on_d and settled_on_d <= in_d_partition
    assert counts["orders_created_that_day"] == len(orders_of_d)
    assert not created_on(small_world, start_ts, day_d + 1) & lake_tids(lake)
    # and D's store receipts, archive and WeCom statistics landed in D's partitions
    for source, entity in (("store", "pos_lines"), ("store", "messages"), ("wecom", "user_behavior")):
        assert pq.read_table(partition_dir(lake, "raw", source, entity, d_dt) / "part-0.parquet").num_rows > 0, entity
