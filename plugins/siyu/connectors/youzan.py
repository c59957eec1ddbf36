"""Youzan connector: silent-mode token, the {code, success, data} envelope, and order search by
update-time windows that overlap and look back for late updates, split until each fits the page cap."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
from tenacity import Retrying

from siyu.connectors.http import (
    TRANSIENT_HTTP,
    RequestBudget,
    SourceError,
    TransientSourceError,
    read_json,
    retry_policy,
)
from siyu.world.spec import CHINA_TZ

log = logging.getLogger(__name__)
TOKEN_CODES = {4201, 4203}
PAGE_SIZE = 100  # the documented maximum
MAX_PAGES = 100  # page_no ≤ 100: a window holding more orders must be split
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class YouzanError(SourceError):
    def __init__(self, method: str, code: int, message: str):
        super().__init__(f"Youzan {method}: code {code}: {message}")
        self.method, self.code, self.message = method, code, message


@dataclass(frozen=True)
class YouzanConfig:
    base_url: str
    client_id: str
    client_secret: str
    kdt_id: str
    timeout_seconds: float = 15.0
    max_attempts: int = 8
    max_wait_seconds: float = 8.0
    request_budget: int = 100_000


def fmt(ts: int) -> str:
    return datetime.fromtimestamp(ts, CHINA_TZ).strftime(TIME_FORMAT)


def parse(value: str) -> int:
    return int(datetime.strptime(value, TIME_FORMAT).replace(tzinfo=CHINA_TZ).timestamp())


class YouzanClient:
    def __init__(self, config: YouzanConfig, budget: RequestBudget | None = None):
        self.config = config
        self.budget = budget or RequestBudget(config.request_budget)
        self.http = httpx.Client(base_url=config.base_url, timeout=config.timeout_seconds)
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self.token_refreshes = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> YouzanClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _envelope(self, response: httpx.Response, method: str) -> dict:
        body = read_json(response, f"Youzan {method}")
        if "gw_err_resp" in body:  # gateway limits
            raise TransientSourceError(f"Youzan {method}: gateway {body['gw_err_resp'].get('err_code')}")
        return body

    def token(self, force: bool = False) -> str:
        with self._lock:
            if self._token and not force and self._token[1] > time.time() + 300:
                return self._token[0]
            for attempt in Retrying(**retry_policy(self.config.max_attempts, self.config.max_wait_seconds)):
                with attempt:
                    self.budget.spend("auth/token")
                    try:
                        response = self.http.post(
                            "/auth/token",
                            json={
                                "client_id": self.config.client_id,
                                "client_secret": self.config.client_secret,
                                "authorize_type": "silent",
                                "grant_id": self.config.kdt_id,
                                "refresh": force,
                            },
                        )
                    except TRANSIENT_HTTP as error:
                        raise TransientSourceError(f"Youzan token: {type(error).__name__}") from error
                    body = self._envelope(response, "auth/token")
                    if not body.get("success"):
                        if body.get("code") in TOKEN_CODES:
                            raise TransientSourceError(f"Youzan token: code {body.get('code')}")
                        raise YouzanError("auth/token", body.get("code"), body.get("message", ""))
            data = body["data"]
            self._token = (data["access_token"], data["expires"] / 1000)
            self.token_refreshes += 1
            return self._token[0]

    def call(self, method: str, version: str, params: dict) -> dict:
        for attempt in Retrying(**retry_policy(self.config.max_attempts, self.config.max_wait_seconds)):
            with attempt:
                body = None
                for refreshed in (False, True):
                    token = self.token(force=refreshed)
                    self.budget.spend(method)
                    try:
                        response = self.http.post(
                            f"/api/{method}/{version}", params={"access_token": token}, json=params
                        )
                    except TRANSIENT_HTTP as error:
                        raise TransientSourceError(f"Youzan {method}: {type(error).__name__}") from error
                    body = self._envelope(response, method)
                    if body.get("code") in TOKEN_CODES and not refreshed:
                        log.info("Youzan %s: token rejected (code %s), fetching a new one", method, body["code"])
                        continue
                    break
                if body.get("code") in TOKEN_CODES:
                    raise TransientSourceError(f"Youzan {method}: code {body['code']}")
                if not body.get("success"):
                    raise YouzanError(method, body.get("code"), body.get("message", ""))
        return body["data"]

    def _search(self, start: int, end: int, page_no: int) -> dict:
        return self.call(
            "youzan.trades.sold.get",
            "4.0.4",
            {"start_update": fmt(start), "end_update": fmt(end), "page_no": page_no, "page_size": PAGE_SIZE},
        )

    def orders_updated(self, start: int, end: int) -> Iterator[dict]:
        """Every order whose update_time is in [start, end], each once. A window holding more than the
        10,000 orders paging can reach is halved until it fits."""
        windows = [(start, end)]
        seen: set[str] = set()
        while windows:
            first, last = windows.pop(0)
            head = self._search(first, last, 1)
            total = head["total_results"]
            if total > PAGE_SIZE * MAX_PAGES and last - first > 1:
                middle = (first + last) // 2
                windows[:0] = [(first, middle), (middle + 1, last)]
                log.info("Youzan: %d orders in %s..%s, splitting the window", total, fmt(first), fmt(last))
                continue
            pages = [head] + [self._search(first, last, n) for n in range(2, -(-total // PAGE_SIZE) + 1)]
            for page in pages:
                for entry in page["full_order_info_list"]:
                    order = entry["full_order_info"]
                    tid = order["order_info"]["tid"]
                    if tid not in seen:  # update times change under paging: never emit an order twice
                        seen.add(tid)
                        yield order

    def user(self, **query: str) -> list[dict]:
        return self.call("youzan.users.info.query", "1.0.1", query)["user_list"]
