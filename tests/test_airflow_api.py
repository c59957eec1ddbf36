"""`make airflow` for real: `siyu airflow` starts Airflow standalone (api-server, scheduler, dag-processor,
triggerer on SQLite metadata) beside the simulators of a small world, and siyu's DAGs are listed
through Airflow's public REST API, as a user's tool would see them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
SIYU = str(Path(sys.executable).parent / "siyu")
SIYU_DAGS = {"ingest_wecom", "ingest_shop", "ingest_store", "transform", "activate_audiences"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_make_airflow_serves_siyus_dags_through_the_rest_api(tmp_path):
    port = free_port()
    log = (tmp_path / "airflow.log").open("w")
    process = subprocess.Popen(
        [SIYU, "airflow", "--scale", "2000", "--data-dir", str(tmp_path / "demo"), "--port", str(port)],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def tail() -> str:
        return (tmp_path / "airflow.log").read_text(errors="replace")[-3000:]

    try:
        deadline = time.monotonic() + 240
        dags: dict = {}
        while time.monotonic() < deadline:
            assert process.poll() is None, tail()
            try:
                token = httpx.get(f"{base}/auth/token", timeout=5).json()["access_token"]
                answer = httpx.get(
                    f"{base}/api/v2/dags", headers={"Authorization": f"Bearer {token}"}, params={"limit": 100}
                )
                dags = {dag["dag_id"]: dag for dag in answer.json().get("dags", [])}
                if set(dags) >= SIYU_DAGS:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(3)
        assert set(dags) >= SIYU_DAGS, tail()
        assert all("siyu" in {tag["name"] for tag in dags[d]["tags"]} for d in SIYU_DAGS)
        # The Assets chain: transform waits on the raw Assets, activation on the audience Assets.
        assert "asset" in (dags["transform"]["timetable_summary"] or "").lower()
        assert "asset" in (dags["activate_audiences"]["timetable_summary"] or "").lower()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
