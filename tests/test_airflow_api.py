"""Airflow started for real (api-server on SQLite metadata, DAGs serialized from dags/), and siyu's DAGs
listed through its public REST API, as a user's tool would see them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
SIYU_DAGS = {"ingest_wecom", "ingest_shop", "ingest_store", "transform", "activate_audiences"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_api_server_lists_siyus_dags(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__PORT": str(port),
    }
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    subprocess.run([AIRFLOW, "dags", "reserialize"], env=env, check=True, capture_output=True, timeout=300)
    log = (tmp_path / "api-server.log").open("w")
    server = subprocess.Popen(
        [AIRFLOW, "api-server", "--port", str(port), "--host", "127.0.0.1"], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/api/v2/version", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "api-server.log").read_text()[-3000:]
            assert server.poll() is None, (tmp_path / "api-server.log").read_text()[-3000:]
            time.sleep(1)
        # A token from the simple auth manager, as a client of a real deployment would send.
        token = httpx.get(f"{base}/auth/token").json()["access_token"]
        answer = httpx.get(f"{base}/api/v2/dags", headers={"Authorization": f"Bearer {token}"}, params={"limit": 100})
        assert answer.status_code == 200, answer.text
        dags = {dag["dag_id"]: dag for dag in answer.json()["dags"]}
        assert set(dags) >= SIYU_DAGS
        assert all("siyu" in {tag["name"] for tag in dags[d]["tags"]} for d in SIYU_DAGS)
        # transform is scheduled on the raw Assets, activation on the audience Assets.
        assert "asset" in (dags["transform"]["timetable_summary"] or "").lower()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
