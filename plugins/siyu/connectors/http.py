"""What every API connector shares: a request budget and the retry policy for transient faults."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import httpx
from tenacity import (
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

log = logging.getLogger(__name__)


class SourceError(RuntimeError):
    """A source answered with an error we cannot retry away."""


class TransientSourceError(SourceError):
    """Rate limits, concurrency limits, 5xx, timeouts, unreadable bodies: back off and try again."""


class RequestBudgetExceeded(SourceError):
    """The run used its request budget: stop rather than hammer the API."""


@dataclass
class RequestBudget:
    limit: int
    used: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spend(self, what: str) -> None:
        with self.lock:
            if self.used >= self.limit:
                raise RequestBudgetExceeded(f"request budget of {self.limit} used up before {what}")
            self.used += 1


TRANSIENT_HTTP = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def retry_policy(max_attempts: int, max_wait: float) -> dict:
    """tenacity arguments: exponential backoff with full jitter on transient errors only."""
    return {
        "retry": retry_if_exception_type(TransientSourceError),
        "wait": wait_random_exponential(multiplier=0.1, max=max_wait),
        "stop": stop_after_attempt(max_attempts),
        "reraise": True,
        "before_sleep": before_sleep_log(log, logging.WARNING),
    }


def read_json(response: httpx.Response, source: str) -> dict:
    if response.status_code >= 500:
        raise TransientSourceError(f"{source}: HTTP {response.status_code}")
    if response.status_code == 404:
        raise SourceError(f"{source}: HTTP 404 for {response.request.url.path} (unknown API path)")
    try:
        body = response.json()
    except ValueError as error:
        raise TransientSourceError(f"{source}: unreadable JSON body ({error})") from error
    if not isinstance(body, dict):
        raise TransientSourceError(f"{source}: body is not a JSON object")
    return body
