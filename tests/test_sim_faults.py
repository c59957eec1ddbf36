"""Fault injection: every kind occurs, the plan is deterministic for a seed, and each fault looks like
what the real services do."""

from __future__ import annotations

import json

import httpx
import pytest

from siyu.sim.faults import FAULT_KINDS, FaultPlan

pytestmark = pytest.mark.integration


def test_plan_is_deterministic_and_covers_every_kind():
    def kinds(seed):
        plan = FaultPlan(rate=0.3, seed=seed)
        return [plan.next_fault() for _ in range(400)]

    assert kinds(9) == kinds(9)
    assert kinds(9) != kinds(10)
    assert set(kinds(9)) - {None} == set(FAULT_KINDS)
    assert 80 <= sum(k is not None for k in kinds(9)) <= 160


def test_faults_on_the_wire(sim, client, wecom_token):
    httpx.post(f"{sim.base_url}/_sim/faults", json={"rate": 1.0, "seed": 1, "timeout_seconds": 1.5, "reset": True})
    seen = {}
    for _ in range(len(FAULT_KINDS)):
        try:
            answer = client.get(
                "/cgi-bin/externalcontact/get_follow_user_list", params={"access_token": wecom_token}, timeout=1.0
            )
        except httpx.ReadTimeout:
            seen["timeout"] = True
            continue
        if answer.status_code >= 500:
            seen["server_error"] = answer.status_code
            continue
        try:
            body = answer.json()
        except json.JSONDecodeError:
            seen["malformed_json"] = True
            continue
        seen[body.get("errcode")] = True
        if answer.elapsed.total_seconds() >= 0.3:
            seen["slow"] = True
    summary = httpx.get(f"{sim.base_url}/_sim/stats").json()["faults"]
    assert summary["total_injected"] == len(FAULT_KINDS)
    assert {45009, 45033, 40014, "server_error", "timeout", "malformed_json"} <= set(seen)
    assert "slow" in seen, "a slow response still answers"
    httpx.post(f"{sim.base_url}/_sim/faults", json={"rate": 0.0})
    after = client.get("/cgi-bin/externalcontact/get_follow_user_list", params={"access_token": wecom_token}).json()
    assert after["errcode"] == 40014, "the token was invalidated mid-run: the client must fetch a new one"
