"""Shared fixtures: one small generated world per session, and simulators serving it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
import pytest

from siyu.world.generate import generate
from siyu.world.spec import WorldSpec

# Airflow reads its configuration when first imported: point it at a throwaway home before any test does.
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="siyu-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

SMALL_SCALE = 3000
SMALL_SEED = 5


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate(WorldSpec(scale=SMALL_SCALE, seed=SMALL_SEED), out)
    return out


@pytest.fixture(scope="session")
def running_sim(small_world):
    from siyu.sim.server import RunningSimulators

    with RunningSimulators(small_world) as sim:
        yield sim


@pytest.fixture()
def sim(running_sim):
    """The running simulators, with faults off, the clock at the world's end and fresh tokens."""
    httpx.post(f"{running_sim.base_url}/_sim/faults", json={"rate": 0.0, "reset": True})
    running_sim.sims.state.set_clock(running_sim.sims.state.meta["end_ts"] - 1)
    return running_sim


@pytest.fixture()
def client(sim):
    with httpx.Client(base_url=sim.base_url, timeout=10) as http:
        yield http


@pytest.fixture()
def wecom_token(sim, client) -> str:
    creds = sim.credentials
    answer = client.get("/cgi-bin/gettoken", params={"corpid": creds["corp_id"], "corpsecret": creds["corp_secret"]})
    return answer.json()["access_token"]


@pytest.fixture()
def youzan_token(sim, client) -> str:
    creds = sim.credentials
    answer = client.post(
        "/auth/token",
        json={
            "client_id": creds["youzan_client_id"],
            "client_secret": creds["youzan_client_secret"],
            "authorize_type": "silent",
            "grant_id": creds["youzan_kdt_id"],
        },
    )
    return answer.json()["data"]["access_token"]


def land_world_lake(sim, world: Path, lake: Path, drops: Path) -> None:
    """The world's sources pulled through the real connectors into a lake, as the DAGs do on the day after
    the world's last day."""
    from datetime import date

    import pyarrow.parquet as pq

    from siyu.connectors.wecom import WeComClient, WeComConfig
    from siyu.connectors.youzan import YouzanClient, YouzanConfig
    from siyu.ingest import shop, wecom
    from siyu.ingest.run_day import RunDay
    from siyu.ingest.store import ingest_files
    from siyu.sim.drops import write_archive, write_store_drops, write_visits

    run = RunDay(day=date(2025, 12, 31), run_id="t")
    creds, state = sim.credentials, sim.sims.state
    state.set_clock(state.meta["end_ts"] + 60)
    with WeComClient(WeComConfig(sim.base_url, creds["corp_id"], creds["corp_secret"])) as client:
        wecom.snapshot_contacts(client, lake, run)
        wecom.snapshot_groups(client, lake, run)
        wecom.snapshot_directory(client, lake, run)
        wecom.pull_statistics(client, lake, run)
    config = YouzanConfig(
        sim.base_url, creds["youzan_client_id"], creds["youzan_client_secret"], creds["youzan_kdt_id"]
    )
    with YouzanClient(config) as client:
        shop.pull_orders(client, lake, run, window=(state.meta["start_ts"], state.meta["end_ts"] + 60))
        buyers = pq.read_table(lake / f"raw/shop/orders/dt={run.dt}").column("yz_open_id").to_pylist()
        shop.pull_users(client, lake, run, buyers)
    write_store_drops(world, drops)
    write_archive(world, drops)
    write_visits(world, drops)
    ingest_files(drops, lake, run)


@pytest.fixture(scope="session")
def world_warehouse(running_sim, small_world, tmp_path_factory) -> Path:
    """The small world landed into a lake and built by dbt once per session (truth present). Tests that
    rebuild must use a copy (`warehouse_copy`)."""
    from siyu.transform import dbt_build

    root = tmp_path_factory.mktemp("world-warehouse")
    httpx.post(f"{running_sim.base_url}/_sim/faults", json={"rate": 0.0, "reset": True})
    land_world_lake(running_sim, small_world, root / "lake", root / "drops")
    warehouse = root / "wh" / "siyu.duckdb"
    result = dbt_build(root / "lake", warehouse, truth=small_world / "truth")
    assert result.success, result.failures
    return warehouse


@pytest.fixture()
def warehouse_copy(world_warehouse, tmp_path) -> Path:
    import shutil

    copy = tmp_path / "wh" / "siyu.duckdb"
    copy.parent.mkdir(parents=True)
    shutil.copy(world_warehouse, copy)
    return copy
