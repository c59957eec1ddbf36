"""`make airflow` for real: `siyu airflow` starts Airflow standalone (api-server, scheduler, dag-processor,
triggerer on SQLite metadata) beside the simulators of a small world, on a port other than 8080. Driven
only through Airflow's public REST API, as a user's tool would: the ingestion DAGs are unpaused and
triggered without a logical date, then backfilled over three days; each time the Asset chain must carry on
by itself: transform (started by the raw Assets), then activate_audiences (started by the audience
Assets), ending with exports on disk. No `dag.test()`, no logical date handed in."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from siyu.orchestration import AUDIENCES  # the audience registry

pytestmark = pytest.mark.integration
SIYU = str(Path(sys.executable).parent / "siyu")
SIYU_DAGS = {"ingest_wecom", "ingest_shop", "ingest_store", "transform", "activate_audiences"}
INGEST = ("ingest_wecom", "ingest_shop", "ingest_store")


def free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port != 8080:
            return port


class AirflowApi:
    def __init__(self, base: str, tail):
        self.base, self.tail, self.headers = base, tail, {}

    def login(self) -> None:
        token = httpx.get(f"{self.base}/auth/token", timeout=5).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kwargs) -> dict:
        # SQLite metadata on a busy 2-core machine can be slow to answer, or locked ("Database error", 500/503)
        # while the scheduler writes: ask again (every request here is safe to repeat: ingestion is idempotent).
        for attempt in range(6):
            try:
                answer = httpx.request(method, f"{self.base}/api/v2{path}", headers=self.headers, timeout=60, **kwargs)
            except httpx.TimeoutException:
                if attempt == 5 or method != "GET":
                    raise
                time.sleep(5)
                continue
            if answer.status_code not in (500, 503) or attempt == 5:
                break
            time.sleep(5)
        assert answer.status_code < 300, f"{method} {path}: {answer.status_code} {answer.text}\n{self.tail()}"
        return answer.json()

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "run_after"})["dag_runs"]

    def wait_for(self, what: str, check, timeout: float) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(3)
        raise AssertionError(f"timed out waiting for {what}\n{self.summary()}\n{self.tail()}")

    def summary(self) -> str:
        lines = []
        for dag_id in sorted(SIYU_DAGS):
            for run in self.runs(dag_id):
                lines.append(f"{dag_id} {run['dag_run_id']} {run['run_type']} {run['state']} {run.get('conf')}")
                if run["state"] == "failed":
                    tis = self.call("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")
                    lines += [f"    {ti['task_id']}: {ti['state']}" for ti in tis["task_instances"]]
        return "\n".join(lines)


def succeeded(api: AirflowApi, dag_id: str, *, after: int = 0, run_type: str | None = None):
    """The runs of dag_id beyond the first `after` once every one of them has ended; fail fast on failure."""

    def check():
        runs = [r for r in api.runs(dag_id) if run_type is None or r["run_type"] == run_type]
        new = runs[after:]
        failed = [r for r in new if r["state"] == "failed"]
        assert not failed, f"{dag_id} run failed: {failed}\n{api.summary()}\n{api.tail()}"
        return new if new and all(r["state"] == "success" for r in new) else None

    return check


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """`siyu airflow` on a free port other than 8080, on a world of 1,000 persons."""
    root = tmp_path_factory.mktemp("airflow")
    port = free_port()
    log_path = root / "airflow.log"
    log = log_path.open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    process = subprocess.Popen(
        [SIYU, "airflow", "--scale", "1000", "--data-dir", str(root / "demo"), "--port", str(port)],
        stdout=log,
        stderr=log,
        env=env,
        start_new_session=True,
    )

    def tail() -> str:
        standalone = root / "demo" / "logs" / "airflow_standalone.log"
        own = standalone.read_text(errors="replace")[-3000:] if standalone.exists() else ""
        return "siyu airflow:\n" + log_path.read_text(errors="replace")[-1500:] + "\nstandalone log tail:\n" + own

    api = AirflowApi(f"http://127.0.0.1:{port}", tail)

    def dags_listed():
        assert process.poll() is None, tail()
        try:
            api.login()
            dags = {d["dag_id"]: d for d in api.call("GET", "/dags", params={"limit": 100})["dags"]}
        except (httpx.HTTPError, ValueError, KeyError, AssertionError):
            return None
        return dags if set(dags) >= SIYU_DAGS else None

    try:
        api.dags = api.wait_for("siyu's DAGs in the REST API", dags_listed, 600)
        api.root = root / "demo"
        yield api
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=150)  # siyu airflow stops its standalone: SIGINT, SIGTERM after 60 s
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def exports_for(root: Path, day: str) -> dict[str, int]:
    found = {}
    for audience in AUDIENCES:
        manifest = root / "exports" / audience / day / "_manifest.json"
        if manifest.exists():
            found[audience] = json.loads(manifest.read_text(encoding="utf-8"))["rows"]
    return found


def test_dags_listed_with_the_asset_chain_and_only_asset_dags_unpaused(airflow):
    dags = airflow.dags
    assert all("siyu" in {tag["name"] for tag in dags[d]["tags"]} for d in SIYU_DAGS)
    assert "asset" in (dags["transform"]["timetable_summary"] or "").lower()
    assert "asset" in (dags["activate_audiences"]["timetable_summary"] or "").lower()
    # Safe by default: nothing that calls a source runs until the user unpauses it.
    assert {d for d in SIYU_DAGS if dags[d]["is_paused"]} == set(INGEST)


def test_runs_triggered_without_a_logical_date_carry_the_chain_to_exports(airflow):
    world = json.loads((airflow.root / "world" / "world.json").read_text(encoding="utf-8"))
    last_day = date.fromisoformat(world["start"]) + timedelta(days=world["days"] - 1)
    triggered = {}
    for dag_id in INGEST:
        # The UI's and a REST client's trigger: no logical date, no conf.
        run = airflow.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        assert run["logical_date"] is None
        triggered[dag_id] = run["dag_run_id"]
    for dag_id in INGEST:
        airflow.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    # Waits are generous: unpausing ingest_store starts its hourly scheduled run first and the triggered
    # run queues behind it (max_active_runs=1), and a loaded 2-core machine runs Airflow tasks slowly.
    for dag_id, run_id in triggered.items():

        def ended(dag_id=dag_id, run_id=run_id):
            run = airflow.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            assert run["state"] != "failed", f"{dag_id} {run_id} failed\n{airflow.summary()}\n{airflow.tail()}"
            return run["state"] == "success"

        airflow.wait_for(f"{dag_id} run {run_id}", ended, 1500)
    # The day a dateless run ingests is the day before it was triggered: the world's last day.
    lake = airflow.root / "lake" / "raw"
    assert (lake / "wecom" / "follow_relations" / f"dt={last_day}" / "part-0.parquet").exists()
    assert (lake / "shop" / "orders" / f"dt={last_day}" / "part-0.parquet").exists()

    (transform,) = airflow.wait_for("transform started by the raw Assets", succeeded(airflow, "transform"), 1500)[:1]
    assert transform["run_type"] == "asset_triggered" and transform["logical_date"] is None
    activations = airflow.wait_for(
        "activate_audiences started by the audience Assets", succeeded(airflow, "activate_audiences"), 600
    )
    assert activations[0]["run_type"] == "asset_triggered"
    days = sorted(p.name for p in (airflow.root / "exports" / "vip_care").iterdir() if not p.name.startswith("."))
    assert days, "no export folder"
    exported = exports_for(airflow.root, days[-1])
    assert set(exported) == set(AUDIENCES) and sum(exported.values()) > 0, exported


def create_backfill(airflow: AirflowApi, dag_id: str, first: date, last: date) -> None:
    """POST /backfills. On SQLite metadata Airflow answers 503 ("Database is locked") while the scheduler
    writes: ask again, unless the backfill was created anyway."""
    body = {
        "dag_id": dag_id,
        "from_date": f"{first}T00:00:00+08:00",
        "to_date": f"{last}T00:00:00+08:00",
        "max_active_runs": 1,
        "reprocess_behavior": "none",
    }
    for _attempt in range(10):
        answer = httpx.post(f"{airflow.base}/api/v2/backfills", headers=airflow.headers, json=body, timeout=60)
        if answer.status_code < 300:
            return
        assert answer.status_code == 503, f"POST /backfills: {answer.status_code} {answer.text}"
        time.sleep(5)
        existing = airflow.call("GET", "/backfills", params={"dag_id": dag_id})["backfills"]
        if existing:
            return
    raise AssertionError(f"could not create a backfill of {dag_id}: {answer.text}")


def test_a_backfill_over_three_days_lands_each_day_and_carries_the_chain_again(airflow):
    world = json.loads((airflow.root / "world" / "world.json").read_text(encoding="utf-8"))
    last_day = date.fromisoformat(world["start"]) + timedelta(days=world["days"] - 1)
    first = last_day - timedelta(days=4)
    days = [first + timedelta(days=n) for n in range(3)]
    transforms_before = len(airflow.runs("transform"))
    activations_before = len(airflow.runs("activate_audiences"))
    for dag_id in ("ingest_wecom", "ingest_shop"):
        create_backfill(airflow, dag_id, days[0], days[-1])
    airflow.call("POST", "/dags/ingest_store/dagRuns", json={"logical_date": None})
    for dag_id in ("ingest_wecom", "ingest_shop"):
        runs = airflow.wait_for(f"{dag_id} backfill", succeeded(airflow, dag_id, run_type="backfill"), 1500)
        assert len(runs) == 3, runs
    lake = airflow.root / "lake" / "raw"
    for day in days:
        assert (lake / "wecom" / "user_behavior" / f"dt={day}" / "part-0.parquet").exists(), day
        assert (lake / "shop" / "orders" / f"dt={day}" / "part-0.parquet").exists(), day
    airflow.wait_for("transform after the backfill", succeeded(airflow, "transform", after=transforms_before), 1500)
    airflow.wait_for(
        "activate_audiences after the backfill",
        succeeded(airflow, "activate_audiences", after=activations_before),
        600,
    )
