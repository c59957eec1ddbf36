"""Land a generated world's sources into a lake through the real connectors and the simulators, as the
ingestion DAGs' tasks would over the world's year: for tests and benchmarks that need a lake without
running Airflow. Optionally takes WeCom friendship snapshots along the way (a daily-scheduled ingest_wecom
keeps one per day; friendships deleted before the last day are only in the earlier snapshots)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from siyu.connectors.wecom import WeComClient, WeComConfig
from siyu.connectors.youzan import YouzanClient, YouzanConfig
from siyu.ingest import shop, wecom
from siyu.ingest.run_day import RunDay
from siyu.ingest.store import ingest_files
from siyu_sim.drops import write_archive, write_store_drops, write_visits
from siyu_sim.world.spec import DAY_SECONDS

log = logging.getLogger(__name__)


def replay_request_budget(scale: int) -> int:
    """Requests one client may make while replaying a world of `scale` persons in one run."""
    return max(100_000, 4 * scale)


def land_world(sim, world: Path, lake: Path, drops: Path, contact_snapshot_every_days: int | None = None) -> dict:
    """Pull everything on the day after the world's last day; with contact_snapshot_every_days, also
    snapshot the WeCom friendships every that many days before it. Returns counts per step."""
    creds, state = sim.credentials, sim.sims.state
    start_ts, end_ts = state.meta["start_ts"], state.meta["end_ts"]
    first_day = date.fromisoformat(state.meta["start"])
    days = (end_ts - start_ts) // DAY_SECONDS
    # A year replayed in one run asks far more than a day's default budget allows (the shop alone needs
    # one users.info.query per buyer): size it to the world.
    budget = replay_request_budget(state.meta["scale"])
    config = WeComConfig(sim.base_url, creds["corp_id"], creds["corp_secret"], request_budget=budget)
    counts: dict = {"contact_snapshots": 0}
    if contact_snapshot_every_days:
        with WeComClient(config) as client:
            for number in range(contact_snapshot_every_days - 1, days - 1, contact_snapshot_every_days):
                state.set_clock(start_ts + (number + 1) * DAY_SECONDS - 1)
                wecom.snapshot_contacts(client, lake, RunDay(day=first_day + timedelta(days=number), run_id="replay"))
                counts["contact_snapshots"] += 1
                log.info("replay: friendship snapshot %d of day %d", counts["contact_snapshots"], number + 1)
    run = RunDay(day=first_day + timedelta(days=days - 1), run_id="replay")
    state.set_clock(end_ts + 60)
    with WeComClient(config) as client:
        counts.update(wecom.snapshot_contacts(client, lake, run))
        counts.update(wecom.snapshot_groups(client, lake, run))
        counts.update(wecom.snapshot_directory(client, lake, run))
        counts.update(wecom.pull_statistics(client, lake, run))
    log.info("replay: WeCom pulled: %s", counts)
    youzan = YouzanConfig(
        sim.base_url,
        creds["youzan_client_id"],
        creds["youzan_client_secret"],
        creds["youzan_kdt_id"],
        request_budget=budget,
    )
    with YouzanClient(youzan) as client:
        counts.update(shop.pull_orders(client, lake, run, window=(start_ts, end_ts + 60)))
        buyers = pq.read_table(lake / f"raw/shop/orders/dt={run.dt}").column("yz_open_id").to_pylist()
        log.info(
            "replay: %d orders pulled; looking up %d buyers (users.info.query each)", counts["orders"], len(set(buyers))
        )
        counts.update(shop.pull_users(client, lake, run, buyers))
    log.info("replay: writing the store drops and the session archive")
    write_store_drops(world, drops)
    write_archive(world, drops)
    write_visits(world, drops)
    log.info("replay: loading the store drops")
    counts["store"] = ingest_files(drops, lake, run)["entities"]
    return counts


class InProcessUserLookup(YouzanClient):
    """A Youzan client whose users.info.query is answered by the simulator's own handler in this process,
    without HTTP: the same user_list, checked the same way. A world of a million persons has some 750,000
    buyers, one lookup each; over the loopback that is most of an hour, in process a minute."""

    def __init__(self, config: YouzanConfig, simulator) -> None:
        super().__init__(config)
        self.simulator = simulator

    def call(self, method: str, version: str, params: dict) -> dict:
        if (method, version) != ("youzan.users.info.query", "1.0.1"):
            return super().call(method, version, params)
        with self.simulator.state.lock:
            return self.simulator.users_info_query(dict(params))


def land_identity_sources(sim, world: Path, lake: Path, drops: Path) -> dict:
    """Only what the identity graph reads (int_identifiers_observed), pulled on the day after the world's
    last day as land_world pulls it: WeCom friendships, contacts and group members, the shop's orders and
    their buyers' account links, the store drops (members and receipts). Buyers are looked up in process
    (InProcessUserLookup); everything else goes through the real connectors over HTTP. Returns counts."""
    creds, state = sim.credentials, sim.sims.state
    start_ts, end_ts = state.meta["start_ts"], state.meta["end_ts"]
    days = (end_ts - start_ts) // DAY_SECONDS
    run = RunDay(day=date.fromisoformat(state.meta["start"]) + timedelta(days=days - 1), run_id="replay")
    budget = replay_request_budget(state.meta["scale"])
    state.set_clock(end_ts + 60)
    counts: dict = {}
    config = WeComConfig(sim.base_url, creds["corp_id"], creds["corp_secret"], request_budget=budget)
    with WeComClient(config) as client:
        counts.update(wecom.snapshot_contacts(client, lake, run))
        counts.update(wecom.snapshot_groups(client, lake, run))
    log.info("replay: WeCom pulled: %s", counts)
    youzan = YouzanConfig(
        sim.base_url,
        creds["youzan_client_id"],
        creds["youzan_client_secret"],
        creds["youzan_kdt_id"],
        request_budget=budget,
    )
    with InProcessUserLookup(youzan, sim.sims.youzan) as client:
        counts.update(shop.pull_orders(client, lake, run, window=(start_ts, end_ts + 60)))
        buyers = pq.read_table(lake / f"raw/shop/orders/dt={run.dt}").column("yz_open_id").to_pylist()
        log.info("replay: %d orders pulled; looking up %d buyers in process", counts["orders"], len(set(buyers)))
        counts.update(shop.pull_users(client, lake, run, buyers))
    log.info("replay: writing and loading the store drops")
    write_store_drops(world, drops)
    counts["store"] = ingest_files(drops, lake, run)["entities"]
    return counts
