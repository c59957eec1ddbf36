"""Deterministic fault injection: which request fails, and how, depends only on the seed and the
request's position in the run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

FAULT_KINDS = ("rate_limit", "concurrency", "token_invalidated", "server_error", "timeout", "slow", "malformed_json")


@dataclass
class FaultPlan:
    rate: float = 0.0  # share of requests that fail
    seed: int = 0
    kinds: tuple[str, ...] = FAULT_KINDS
    timeout_seconds: float = 3.0  # how long a "timeout" hangs: longer than a client's read timeout
    slow_seconds: float = 0.3
    counter: int = 0
    injected: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_fault(self) -> str | None:
        """The fault for the next request, or None. Round-robin over the kinds so every kind occurs."""
        with self.lock:
            self.counter += 1
            if self.rate <= 0:
                return None
            draw = np.random.default_rng([self.seed, self.counter]).random()
            if draw >= self.rate:
                return None
            kind = self.kinds[sum(self.injected.values()) % len(self.kinds)]
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind

    def summary(self) -> dict:
        with self.lock:
            return {
                "requests": self.counter,
                "rate": self.rate,
                "injected": dict(self.injected),
                "total_injected": sum(self.injected.values()),
            }


async def inject(plan: FaultPlan, service_errors: dict[str, Callable[[], object]]) -> object | None:
    """Draw the next fault and act it out. Transport faults (502, hanging, slow) look the same for every
    service; `service_errors` gives each service's own answer for rate_limit, concurrency,
    token_invalidated and malformed_json. Returns the response to send, or None to answer normally."""
    from fastapi.responses import Response

    kind = plan.next_fault()
    if kind is None:
        return None
    if kind == "server_error":
        return Response("<html>502 Bad Gateway</html>", status_code=502, media_type="text/html")
    if kind == "timeout":
        await asyncio.sleep(plan.timeout_seconds)
        return Response(status_code=504)
    if kind == "slow":
        await asyncio.sleep(plan.slow_seconds)
        return None
    return service_errors[kind]()
