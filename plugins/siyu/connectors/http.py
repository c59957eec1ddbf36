"""What every API connector shares: a request budget, one retry policy per logical call, reading a
JSON answer, checking it has the documented shape, and reading a page again when it breaks a paging
promise. Every error names the call (source, endpoint, params) and never a token or secret."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

SECRET_PARAMS = ("access_token", "corpsecret", "client_secret", "secret", "token")
REREADS = 3  # reads of a page that breaks a paging promise before the pull fails (decisions.md, issue 17)


class SourceError(RuntimeError):
    """A source answered with an error we cannot retry away."""


class TransientSourceError(SourceError):
    """Rate limits, concurrency limits, 5xx, timeouts, unreadable bodies: back off and try again."""


class TokenRejected(TransientSourceError):
    """The access token was refused: the next attempt fetches a new one, without waiting."""


class RetriesExhausted(SourceError):
    """A call failed transiently on every attempt its budget allows."""


class ResponseShapeError(SourceError):
    """A well-formed answer lacks a documented key or has it with the wrong type: a contract change, not
    a fault, so it is not retried."""


class IncompleteResponse(SourceError):
    """Pages disagree with what the API promised (page lengths, totals, cursors), on every reread."""


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
TRANSIENT_STATUS = {408, 425, 429}


# ---- naming calls without secrets -------------------------------------------------------------------
def scrub(text: str) -> str:
    """Remove secret query parameters from any text that may quote a URL."""
    return re.sub(rf"({'|'.join(SECRET_PARAMS)})=[^&\s'\"]*", r"\1=***", text)


def _short(value: Any) -> str:
    if isinstance(value, list | tuple):
        if len(value) <= 3:
            return repr(list(value))
        return f"[{len(value)} items: {value[0]!r}…{value[-1]!r}]"
    if isinstance(value, str) and len(value) > 64:
        return repr(value[:40] + "…" + value[-12:])
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_short(v)}" for k, v in value.items() if k not in SECRET_PARAMS) + "}"
    return repr(value)


def describe(source: str, endpoint: str, params: dict | None = None) -> str:
    """'WeCom batch/get_by_user (userid_list=[100 items: 'a'…'z'], limit=100, cursor='…')'."""
    shown = ", ".join(f"{k}={_short(v)}" for k, v in (params or {}).items() if k not in SECRET_PARAMS)
    return f"{source} {endpoint}" + (f" ({shown})" if shown else "")


def host_of(base_url: str) -> str:
    url = httpx.URL(base_url)
    return f"{url.host}:{url.port}" if url.port else url.host


# ---- one retry budget per call ------------------------------------------------------------------------
class _Backoff:
    """Exponential backoff with full jitter; none after a rejected token (the fix is a new token)."""

    def __init__(self, max_wait: float):
        self.backoff = wait_random_exponential(multiplier=0.1, max=max_wait)

    def __call__(self, state: RetryCallState) -> float:
        if state.outcome is not None and isinstance(state.outcome.exception(), TokenRejected):
            return 0.0
        return self.backoff(state)


def retry_policy(max_attempts: int, max_wait: float) -> dict:
    """tenacity arguments: backoff on transient errors only, at most `max_attempts` attempts."""
    return {
        "retry": retry_if_exception_type(TransientSourceError),
        "wait": _Backoff(max_wait),
        "stop": stop_after_attempt(max_attempts),
        "reraise": True,
        "before_sleep": before_sleep_log(log, logging.WARNING),
    }


def with_retries(call: str, attempt: Callable[[], T], max_attempts: int, max_wait: float) -> T:
    """Run `attempt` (which fetches a token itself when it needs one) under one budget of `max_attempts`
    tries. Each try may send a token request and the call; neither has a retry loop of its own."""
    began = time.monotonic()
    retrying = Retrying(**retry_policy(max_attempts, max_wait))
    try:
        return retrying(attempt)
    except TransientSourceError as error:
        tries = retrying.statistics.get("attempt_number", max_attempts)
        elapsed = time.monotonic() - began
        raise RetriesExhausted(f"{call}: gave up after {tries} attempts in {elapsed:.1f} s; last: {error}") from error


def transport_error(what: str, base_url: str, error: httpx.HTTPError) -> SourceError:
    """A request that got no answer: transient for timeouts and network errors, fatal otherwise."""
    detail = scrub(str(error)) or "no detail"
    if isinstance(error, httpx.ConnectError):
        return TransientSourceError(f"{what}: cannot connect to {host_of(base_url)} ({type(error).__name__}: {detail})")
    if isinstance(error, TRANSIENT_HTTP):
        return TransientSourceError(f"{what}: {type(error).__name__} from {host_of(base_url)} ({detail})")
    return SourceError(f"{what}: {type(error).__name__} for {host_of(base_url)} ({detail})")


# ---- reading answers --------------------------------------------------------------------------------
def read_json(response: httpx.Response, what: str) -> dict:
    """The JSON object of an answer. 5xx, 408/425/429 and unreadable bodies are transient; a redirect,
    a 404 or another 4xx is a configuration or contract problem and fails at once."""
    status = response.status_code
    content_type = response.headers.get("content-type", "no content-type").split(";")[0]
    if status >= 500 or status in TRANSIENT_STATUS:
        raise TransientSourceError(f"{what}: HTTP {status} ({content_type})")
    if 300 <= status < 400:
        target = httpx.URL(response.headers.get("location", ""))
        where = f"{target.scheme}://{target.host}" if target.host else "an unnamed location"
        raise SourceError(f"{what}: HTTP {status} redirect to {where} (is the base URL's scheme or host wrong?)")
    if status == 404:
        raise SourceError(f"{what}: HTTP 404 for {response.request.url.path} (unknown API path)")
    if status >= 400:
        raise SourceError(f"{what}: HTTP {status} ({content_type})")
    try:
        body = response.json()
    except ValueError as error:
        raise TransientSourceError(f"{what}: HTTP {status} body is not JSON ({content_type}, {error})") from error
    if not isinstance(body, dict):
        raise TransientSourceError(f"{what}: HTTP {status} body is JSON {type_name(body)}, not an object")
    return body


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def need(payload: Any, key: str, kind: type | tuple[type, ...], what: str, where: str = "the answer") -> Any:
    """payload[key], which the API documents as `kind`; a ResponseShapeError naming the call and key when
    it is absent, null or of another type."""
    if not isinstance(payload, dict):
        raise ResponseShapeError(f"{what}: {where} is {type_name(payload)}, expected an object with '{key}'")
    if key not in payload:
        raise ResponseShapeError(f"{what}: {where} has no '{key}'")
    value = payload[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(type_name(k()) if k is not type(None) else "null" for k in kinds)
        raise ResponseShapeError(f"{what}: '{key}' in {where} is {type_name(value)}, expected {expected}")
    return value


def need_rows(payload: Any, key: str, what: str, row_keys: dict[str, type | tuple[type, ...]]) -> list[dict]:
    """payload[key] as a list of objects, each with the keys (and types) the pipeline reads."""
    rows = need(payload, key, list, what)
    for number, row in enumerate(rows):
        for row_key, kind in row_keys.items():
            need(row, row_key, kind, what, f"'{key}'[{number}]")
    return rows


def reread(read: Callable[[], T], problem: Callable[[T], str | None], what: str, reads: int = REREADS) -> T:
    """`read()` again while `problem(answer)` names a broken paging promise, at most `reads` times; then
    IncompleteResponse. Real APIs race with concurrent writes, so one odd page is read again first."""
    issue = None
    for number in range(1, reads + 1):
        answer = read()
        issue = problem(answer)
        if issue is None:
            return answer
        log.warning("%s: %s (read %d of %d)", what, issue, number, reads)
    raise IncompleteResponse(f"{what}: {issue}, on each of {reads} reads")
