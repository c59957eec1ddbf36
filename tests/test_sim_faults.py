"""Fault injection: every kind occurs, the plan is deterministic for a seed, and each fault looks like
what the real services do."""

from __future__ import annotations

import json

import httpx
import pytest
from siyu_sim.faults import FAULT_KINDS, PAYLOAD_FAULT_KINDS, FaultPlan, PayloadFault

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


def test_payload_faults_are_off_by_default_and_a_default_plan_is_unchanged():
    """The default rotation holds only the transport kinds, so a seed draws what it drew before."""
    assert not set(PAYLOAD_FAULT_KINDS) & set(FAULT_KINDS)
    plan = FaultPlan(rate=0.3, seed=9)
    drawn = [plan.next_fault() for _ in range(400)]
    assert set(drawn) - {None} == set(FAULT_KINDS)
    targeted = FaultPlan(rate=0.3, seed=9)
    assert [targeted.next_fault(f"endpoint{i % 3}") for i in range(400)] == drawn, "the endpoint alone changes nothing"


def test_a_targeted_plan_faults_only_its_endpoints_after_start_and_up_to_its_limit():
    plan = FaultPlan()
    plan.target(("short_page",), {"batch/get_by_user"}, start_after=2, limit=2)
    drawn = [plan.next_fault(endpoint) for endpoint in ["gettoken", *["batch/get_by_user"] * 6]]
    assert drawn == [None, None, None, "short_page", "short_page", None, None]
    plan.clear()
    assert plan.next_fault("batch/get_by_user") is None and plan.kinds == FAULT_KINDS


def test_payload_faults_change_only_the_documented_key():
    page = {"errcode": 0, "external_contact_list": list(range(100)), "next_cursor": "c2"}
    assert len(PayloadFault("short_page").apply(page, "external_contact_list")["external_contact_list"]) == 97
    assert "external_contact_list" not in PayloadFault("missing_key").apply(page, "external_contact_list")
    assert PayloadFault("null_value").apply(page, "external_contact_list")["external_contact_list"] is None
    assert PayloadFault("wrong_type").apply(page, "external_contact_list")["external_contact_list"] == {}
    assert PayloadFault("repeat_cursor").apply(page, "external_contact_list", "c1")["next_cursor"] == "c1"
    assert page["next_cursor"] == "c2" and len(page["external_contact_list"]) == 100, "the answer is copied"


def test_a_short_page_on_the_wire(sim, client, youzan_token):
    window = {"start_update": "2025-01-01 00:00:00", "end_update": "2025-12-31 23:59:59", "page_size": 100}
    sim.sims.faults.target(("short_page",), {"youzan.trades.sold.get"}, start_after=1, limit=1)
    try:
        pages = [
            client.post(
                "/api/youzan.trades.sold.get/4.0.4",
                params={"access_token": youzan_token},
                json={**window, "page_no": 1},
            ).json()["data"]
            for _ in range(3)
        ]
    finally:
        sim.sims.faults.clear()
    assert [len(page["full_order_info_list"]) for page in pages] == [100, 97, 100]
    assert len({page["total_results"] for page in pages}) == 1, "the total still promises the full page"
