"""`make demo`: the main job as far as it goes. Today: generate the world, start the simulators, show
that every source answers, and write the store and archive drops the ingestion DAGs will read."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx

from siyu.sim.drops import write_archive, write_store_drops
from siyu.sim.server import RunningSimulators
from siyu.world.generate import generate
from siyu.world.spec import WorldSpec

log = logging.getLogger("siyu.demo")
EC = "/cgi-bin/externalcontact"
NEXT_STAGES = [
    ("ingestion (issue 4)", "Airflow DAGs ingest_wecom / ingest_shop / ingest_store land the raw lake"),
    ("identity (issue 5)", "dbt unifies identifiers into one customer_id, with precision/recall/F1"),
    ("segments (issue 6)", "RFM, lifecycle, ladder, 33 rule, personas, predicted CLV"),
    ("KPIs (issue 7)", "triangle, GMV trees, community grades, guide rates, channel funnel"),
    ("activation (issue 8)", "suppressed audiences, exports, WeCom tag writeback"),
]


def _ensure_world(spec: WorldSpec, world_dir: Path) -> dict:
    meta_path = world_dir / "world.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if (meta["scale"], meta["seed"]) == (spec.scale, spec.seed):
            log.info("[1/4] world already generated at %s (scale %d, seed %d)", world_dir, spec.scale, spec.seed)
            return meta
    log.info("[1/4] generating a world of %d persons (seed %d) into %s", spec.scale, spec.seed, world_dir)
    return generate(spec, world_dir)


def _probe(sim: RunningSimulators) -> dict:
    """Call each source the way a connector will, and count what it holds."""
    creds = sim.credentials
    found = {}
    with httpx.Client(base_url=sim.base_url, timeout=30) as http:
        token = http.get(
            "/cgi-bin/gettoken", params={"corpid": creds["corp_id"], "corpsecret": creds["corp_secret"]}
        ).json()["access_token"]
        query = {"access_token": token}
        guides = http.get(f"{EC}/get_follow_user_list", params=query).json()["follow_user"]
        found["wecom guides (follow users)"] = len(guides)
        relations, cursor = 0, ""
        while True:
            page = http.post(
                f"{EC}/batch/get_by_user",
                params=query,
                json={"userid_list": guides[:100], "cursor": cursor, "limit": 100},
            ).json()
            relations += len(page["external_contact_list"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        found["wecom friendships of the first 100 guides"] = relations
        groups = http.post(f"{EC}/groupchat/list", params=query, json={"limit": 1000}).json()
        found["wecom customer groups (first page)"] = len(groups["group_chat_list"])
        yesterday = sim.sims.state.today_start - 86_400
        stats = http.post(
            f"{EC}/groupchat/statistic",
            params=query,
            json={"day_begin_time": yesterday, "owner_filter": {"userid_list": guides[:100]}, "limit": 1000},
        ).json()
        found["group messages yesterday"] = sum(i["data"]["msg_total"] for i in stats["items"])
        yz = http.post(
            "/auth/token",
            json={
                "client_id": creds["youzan_client_id"],
                "client_secret": creds["youzan_client_secret"],
                "authorize_type": "silent",
                "grant_id": creds["youzan_kdt_id"],
            },
        ).json()["data"]["access_token"]
        orders = http.post(
            "/api/youzan.trades.sold.get/4.0.4",
            params={"access_token": yz},
            json={"start_update": "2025-12-01 00:00:00", "end_update": "2025-12-31 23:59:59", "page_size": 1},
        ).json()
        found["shop orders updated in December"] = orders["data"]["total_results"]
    return found


def run_demo(scale: int, seed: int, data_dir: Path) -> int:
    began = time.perf_counter()
    spec = WorldSpec(scale=scale, seed=seed)
    world_dir = data_dir / "world"
    meta = _ensure_world(spec, world_dir)
    log.info("[2/4] starting the WeCom and Youzan simulators on 127.0.0.1")
    with RunningSimulators(world_dir) as sim:
        log.info("      serving at %s", sim.base_url)
        log.info("[3/4] calling every source as a connector will")
        found = _probe(sim)
    drops_dir = data_dir / "drops"
    log.info("[4/4] writing the last 14 days of store CSV drops and session archive into %s", drops_dir)
    last = spec.days - 1
    store = write_store_drops(world_dir, drops_dir, last - 13, last)
    archive = write_archive(world_dir, drops_dir, last - 13, last)
    headline = json.loads((world_dir / "truth/headline.json").read_text(encoding="utf-8"))

    print("\n================ siyu demo summary ================")
    print(
        f"world            {world_dir}  ({meta['scale']:,} persons, seed {meta['seed']}, {spec.start} + {spec.days}d)"
    )
    for name, value in found.items():
        print(f"  {name:<44} {value:>10,}")
    print(f"  {'store CSV files written (14 days)':<44} {store['files']:>10,}")
    print(f"  {'archive JSONL files written (14 days)':<44} {archive['files']:>10,}")
    print("truth (for quality checks only)")
    for key in ("buyers_any", "wecom_friends_live", "group_speakers", "gmv_online", "gmv_store"):
        print(f"  {key:<44} {headline[key]:>14,.0f}")
    print("coming next in the pipeline")
    for stage, what in NEXT_STAGES:
        print(f"  {stage:<22} {what}")
    print(f"done in {time.perf_counter() - began:.1f}s")
    return 0
