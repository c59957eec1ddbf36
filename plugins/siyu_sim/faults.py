"""Deterministic fault injection: which request fails, and how, depends only on the seed and the
request's position in the run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FAULT_KINDS = ("rate_limit", "concurrency", "token_invalidated", "server_error", "timeout", "slow", "malformed_json")
# Answers that are well-formed JSON but break the documented shape or paging promise. Off by default
# (not in FAULT_KINDS): a plan opts in with `kinds=`, usually narrowed to some endpoints with `endpoints=`.
PAYLOAD_FAULT_KINDS = ("short_page", "missing_key", "null_value", "wrong_type", "repeat_cursor")
SHORT_PAGE_DROP = 3  # a short page loses its last three rows: 97 of 100, as the issue saw it


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
    # Targeting for hostile-response tests; the defaults leave every request a candidate, as before.
    endpoints: frozenset[str] | None = None  # only requests to these endpoints draw (and count)
    start_after: int = 0  # the first `start_after` candidate requests answer normally
    limit: int | None = None  # at most this many faults in all

    def next_fault(self, endpoint: str = "") -> str | None:
        """The fault for the next request, or None. Round-robin over the kinds so every kind occurs."""
        with self.lock:
            if self.endpoints is not None and endpoint not in self.endpoints:
                return None
            self.counter += 1
            if self.rate <= 0 or self.counter <= self.start_after:
                return None
            if self.limit is not None and sum(self.injected.values()) >= self.limit:
                return None
            draw = np.random.default_rng([self.seed, self.counter]).random()
            if draw >= self.rate:
                return None
            kind = self.kinds[sum(self.injected.values()) % len(self.kinds)]
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind

    def target(self, kinds: tuple[str, ...], endpoints: set[str] | None, start_after: int = 0, limit=None) -> None:
        """Every candidate request (after the first `start_after`) fails with `kinds`, up to `limit` faults."""
        with self.lock:
            self.rate, self.kinds, self.counter, self.injected = 1.0, tuple(kinds), 0, {}
            self.endpoints = frozenset(endpoints) if endpoints is not None else None
            self.start_after, self.limit = start_after, limit

    def clear(self) -> None:
        """Back to no faults and the default kinds."""
        with self.lock:
            self.rate, self.kinds, self.counter, self.injected = 0.0, FAULT_KINDS, 0, {}
            self.endpoints, self.start_after, self.limit = None, 0, None

    def summary(self) -> dict:
        with self.lock:
            return {
                "requests": self.counter,
                "rate": self.rate,
                "injected": dict(self.injected),
                "total_injected": sum(self.injected.values()),
            }


@dataclass(frozen=True)
class PayloadFault:
    """A fault acted out on a successful answer's payload, after the handler ran: `apply(payload, key,
    cursor)` changes the documented `key` (the endpoint's list or object) and returns the payload."""

    kind: str

    def apply(self, payload: dict, key: str | None, cursor: str = "") -> dict:
        if key is None or key not in payload:
            return payload
        payload = dict(payload)
        value = payload[key]
        if self.kind == "short_page" and isinstance(value, list):
            payload[key] = value[: max(len(value) - SHORT_PAGE_DROP, 0)]
        elif self.kind == "missing_key":
            del payload[key]
        elif self.kind == "null_value":
            payload[key] = None
        elif self.kind == "wrong_type":
            payload[key] = {} if isinstance(value, list) else []
        elif self.kind == "repeat_cursor" and cursor and payload.get("next_cursor"):
            payload["next_cursor"] = cursor  # the server hands back the cursor it was given: a loop
        return payload


async def inject(plan: FaultPlan, service_errors: dict[str, Callable[[], object]], endpoint: str = "") -> Any | None:
    """Draw the next fault and act it out. Transport faults (502, hanging, slow) look the same for every
    service; `service_errors` gives each service's own answer for rate_limit, concurrency,
    token_invalidated and malformed_json. Returns the response to send, a PayloadFault for the service to
    apply to its answer, or None to answer normally."""
    from fastapi.responses import Response

    kind = plan.next_fault(endpoint)
    if kind is None:
        return None
    if kind in PAYLOAD_FAULT_KINDS:
        return PayloadFault(kind)
    if kind == "server_error":
        return Response("<html>502 Bad Gateway</html>", status_code=502, media_type="text/html")
    if kind == "timeout":
        await asyncio.sleep(plan.timeout_seconds)
        return Response(status_code=504)
    if kind == "slow":
        await asyncio.sleep(plan.slow_seconds)
        return None
    return service_errors[kind]()
