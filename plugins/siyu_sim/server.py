"""Run the simulators: one FastAPI app on 127.0.0.1 serving the WeCom paths (/cgi-bin/...) and the
Youzan paths (/auth/token, /api/...), plus a small admin API under /_sim for tests and the demo."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from siyu_sim.faults import FaultPlan
from siyu_sim.tokens import TokenStore
from siyu_sim.wecom_api import WeComSimulator
from siyu_sim.world_state import WorldState, credentials
from siyu_sim.youzan_api import YouzanSimulator

log = logging.getLogger(__name__)


@dataclass
class Simulators:
    state: WorldState
    faults: FaultPlan
    wecom: WeComSimulator
    youzan: YouzanSimulator
    app: FastAPI


def build_app(
    world_dir: Path | str, now: int | None = None, fault_rate: float = 0.0, fault_seed: int = 0, token_ttl: int = 7200
) -> Simulators:
    state = WorldState.load(world_dir, now)
    faults = FaultPlan(rate=fault_rate, seed=fault_seed)
    wecom = WeComSimulator(state, faults, TokenStore(ttl_seconds=token_ttl))
    youzan = YouzanSimulator(state, faults, TokenStore(ttl_seconds=token_ttl))
    app = FastAPI(title="siyu simulators", docs_url="/_sim/docs", openapi_url="/_sim/openapi.json")

    @app.exception_handler(StarletteHTTPException)
    async def empty_404(request: Request, exc: StarletteHTTPException) -> Response:
        return Response(status_code=exc.status_code)  # WeCom answers unknown paths with an empty 404

    @app.get("/_sim/health")
    def health() -> dict:
        return {"status": "ok", "world": state.meta["scale"], "seed": state.meta["seed"], "now": state.now}

    @app.post("/_sim/clock")
    async def set_clock(request: Request) -> dict:
        state.set_clock(int((await request.json())["now"]))
        return {"now": state.now}

    @app.post("/_sim/faults")
    async def set_faults(request: Request) -> dict:
        body = await request.json()
        with faults.lock:
            faults.rate = float(body.get("rate", faults.rate))
            faults.seed = int(body.get("seed", faults.seed))
            faults.timeout_seconds = float(body.get("timeout_seconds", faults.timeout_seconds))
            if body.get("reset"):
                faults.counter, faults.injected = 0, {}
        return faults.summary()

    @app.post("/_sim/tokens/expire")
    def expire_tokens() -> dict:
        wecom.tokens.expire_all()
        youzan.tokens.expire_all()
        return {"expired": True}

    @app.get("/_sim/stats")
    def stats() -> dict:
        return {
            "faults": faults.summary(),
            "wecom_calls": dict(wecom.calls),
            "youzan_calls": dict(youzan.calls),
            "tokens_issued": {"wecom": wecom.tokens.issued, "youzan": youzan.tokens.issued},
        }

    @app.get("/_sim/relation_tags")
    def relation_tags(userid: str, external_userid: str) -> JSONResponse:
        return JSONResponse({"tag_id": state.relation_tags.get((userid, external_userid), [])})

    @app.post("/_sim/corp_tags")
    async def add_corp_tags(request: Request) -> dict:
        body = await request.json()
        wecom.add_corp_tags(body["group_name"], body["tags"])
        return {"tags": len(state.tags)}

    app.include_router(wecom.router)
    app.include_router(youzan.router)
    return Simulators(state, faults, wecom, youzan, app)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningSimulators:
    """The simulators served from a background thread: `with RunningSimulators(world) as sim: sim.base_url`."""

    def __init__(self, world_dir: Path | str, port: int | None = None, **options):
        self.sims = build_app(world_dir, **options)
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.sims.app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="siyu-sim", daemon=True)

    @property
    def credentials(self) -> dict:
        return credentials(self.sims.state.meta)

    def __enter__(self) -> RunningSimulators:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"simulators did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(world_dir: Path | str, host: str = "127.0.0.1", port: int = 8765, **options) -> None:
    sims = build_app(world_dir, **options)
    log.info(
        "siyu simulators for %s on http://%s:%d (WeCom /cgi-bin, Youzan /auth/token and /api)", world_dir, host, port
    )
    uvicorn.run(sims.app, host=host, port=port, log_level="info")
