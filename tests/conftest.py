"""Shared fixtures: one small generated world per session, and simulators serving it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from siyu_sim.world.generate import generate
from siyu_sim.world.spec import CHINA_TZ, WorldSpec

from siyu.settings import connection_env

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
    from siyu_sim.server import RunningSimulators

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


@pytest.fixture(scope="session")
def world_warehouse(running_sim, small_world, tmp_path_factory) -> Path:
    """The small world landed into a lake and built by dbt once per session (truth present). Tests that
    rebuild must use a copy (`warehouse_copy`)."""
    from siyu.transform import dbt_build

    root = tmp_path_factory.mktemp("world-warehouse")
    httpx.post(f"{running_sim.base_url}/_sim/faults", json={"rate": 0.0, "reset": True})
    from siyu_sim.replay import land_world

    land_world(running_sim, small_world, root / "lake", root / "drops", contact_snapshot_every_days=30)
    warehouse = root / "wh" / "siyu.duckdb"
    # The brand lists its stores' counter phones (var identity_shared_phones), as dbt_project.yml asks.
    import pandas as pd

    counter_phones = pd.read_parquet(small_world / "store" / "stores.parquet", columns=["counter_phone"])
    result = dbt_build(
        root / "lake",
        warehouse,
        truth=small_world / "truth",
        dbt_vars={"identity_shared_phones": sorted(counter_phones["counter_phone"].dropna().unique().tolist())},
    )
    assert result.success, result.failures
    return warehouse


@pytest.fixture()
def warehouse_copy(world_warehouse, tmp_path) -> Path:
    import shutil

    copy = tmp_path / "wh" / "siyu.duckdb"
    copy.parent.mkdir(parents=True)
    shutil.copy(world_warehouse, copy)
    return copy


@pytest.fixture(scope="session")
def airflow_db():
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(REPO / "dags"))


@pytest.fixture()
def pipeline_env(sim, tmp_path, monkeypatch):
    """Connections to the simulators, and a fresh lake and drop folder."""
    extra = {"max_wait_seconds": 0.05, "timeout_seconds": 1.0, "max_attempts": 30}
    for name, value in connection_env(sim.base_url, sim.credentials, extra).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SIYU_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("SIYU_DROP_DIR", str(tmp_path / "drops"))
    end = sim.sims.state.meta["end_ts"]
    sim.sims.state.set_clock(end + 60)  # a minute after midnight following the last day
    return tmp_path


RUNS = iter(range(10_000))


def run_dag(dagbag, dag_id: str, conf: dict | None = None):
    """Each run gets its own logical date one second past the world's last midnight, so runs do not
    collide in the metadata database while all of them ingest the world's last day."""
    logical_date = datetime(2026, 1, 1, 0, 0, next(RUNS) % 60, tzinfo=CHINA_TZ)
    dag = dagbag.get_dag(dag_id)
    run = dag.test(logical_date=logical_date, run_conf=conf)
    assert run.state == "success", f"{dag_id} ended {run.state}"
    return run
