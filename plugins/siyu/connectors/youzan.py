"""Youzan connector: silent-mode token, the {code, success, data} envelope, and order search by
update-time windows that overlap and look back for late updates, split until each fits the page cap.
Every window's pages are checked against total_results (decisions.md, issue 17)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx

from siyu.config import SOURCE_TIMEZONES
from siyu.connectors.http import (
    REREADS,
    IncompleteResponse,
    RequestBudget,
    SourceError,
    TokenRejected,
    TransientSourceError,
    describe,
    need,
    need_rows,
    read_json,
    transport_error,
    with_retries,
)

log = logging.getLogger(__name__)
TOKEN_CODES = {4201, 4203}
PAGE_SIZE = 100  # the documented maximum
MAX_PAGES = 100  # page_no ≤ 100: a window holding more orders must be split
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TRADES = "youzan.trades.sold.get"
# Youzan's Open API reads and writes times in Beijing time, whatever the brand's time zone (siyu.config);
# staging converts them to the business zone (macros from_source_local_time, source_time_zone).
YOUZAN_TZ = ZoneInfo(SOURCE_TIMEZONES["shop"])


class YouzanError(SourceError):
    def __init__(self, method: str, code: int, message: str, call: str | None = None):
        super().__init__(f"{call or 'Youzan ' + method}: code {code}: {message}")
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
    rereads: int = REREADS  # reads of a page (or window) that disagrees with total_results before failing


def fmt(ts: int) -> str:
    return datetime.fromtimestamp(ts, YOUZAN_TZ).strftime(TIME_FORMAT)


def parse(value: str) -> int:
    return int(datetime.strptime(value, TIME_FORMAT).replace(tzinfo=YOUZAN_TZ).timestamp())


class YouzanClient:
    def __init__(self, config: YouzanConfig, budget: RequestBudget | None = None):
        self.config = config
        self.budget = budget or RequestBudget(config.request_budget)
        self.http = httpx.Client(base_url=config.base_url, timeout=config.timeout_seconds)
        self._token: tuple[str, float] | None = None
        self._token_rejected = False
        self._lock = threading.Lock()
        self.token_refreshes = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> YouzanClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _post(self, path: str, what: str, **request) -> dict:
        """One request, no retry: the JSON object, or a transient or fatal SourceError."""
        try:
            response = self.http.post(path, **request)
        except httpx.HTTPError as error:
            raise transport_error(what, self.config.base_url, error) from error
        body = read_json(response, what)
        if "gw_err_resp" in body:  # gateway limits
            gateway = body["gw_err_resp"]
            raise TransientSourceError(
                f"{what}: gateway {gateway.get('err_code') if isinstance(gateway, dict) else gateway}"
            )
        return body

    def _data(self, body: dict, method: str, what: str) -> dict:
        """The envelope's data object after its code and success say the call worked."""
        code = need(body, "code", int, what)
        if code in TOKEN_CODES:
            raise TokenRejected(f"{what}: code {code} ({body.get('message', '')})")
        if code != 200 or body.get("success") is not True:
            raise YouzanError(method, code, str(body.get("message", "")), what)
        return need(body, "data", dict, what)

    def _fetch_token(self, call: str) -> str:
        """One token request, inside the calling request's attempt (no retry loop of its own)."""
        what = f"Youzan auth/token (for {call})"
        self.budget.spend("auth/token")
        body = self._post(
            "/auth/token",
            what,
            json={
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret,
                "authorize_type": "silent",
                "grant_id": self.config.kdt_id,
                "refresh": self._token_rejected,
            },
        )
        try:
            data = self._data(body, "auth/token", what)
        except TokenRejected as error:  # the token service itself refused: back off like any fault
            raise TransientSourceError(str(error)) from error
        token = need(data, "access_token", str, what, "data")
        expires_ms = need(data, "expires", (int, float), what, "data")
        self._token = (token, expires_ms / 1000)
        self._token_rejected = False
        self.token_refreshes += 1
        return token

    def token(self, call: str = "Youzan") -> str:
        with self._lock:
            if self._token and self._token[1] > time.time() + 300:
                return self._token[0]
            return self._fetch_token(call)

    def _forget(self, token: str) -> None:
        with self._lock:
            if self._token and self._token[0] == token:
                self._token, self._token_rejected = None, True

    def call(self, method: str, version: str, params: dict) -> dict:
        """One API call under one retry budget: each attempt takes a token (fetching one when none is
        cached or the last was refused) and sends the call; `data` of a successful answer."""
        what = describe("Youzan", f"{method} {version}", params)

        def attempt() -> dict:
            token = self.token(what)
            self.budget.spend(method)
            body = self._post(f"/api/{method}/{version}", what, params={"access_token": token}, json=params)
            try:
                return self._data(body, method, what)
            except TokenRejected:
                log.info("Youzan %s: token rejected, fetching a new one", method)
                self._forget(token)
                raise

        return with_retries(what, attempt, self.config.max_attempts, self.config.max_wait_seconds)

    # ---- order search ------------------------------------------------------------------------------------
    def _search(self, start: int, end: int, page_no: int) -> tuple[int, list[dict]]:
        """One page of the search: (total_results, the page's orders), shapes checked."""
        params = {"start_update": fmt(start), "end_update": fmt(end), "page_no": page_no, "page_size": PAGE_SIZE}
        what = describe("Youzan", TRADES, params)
        data = self.call(TRADES, "4.0.4", params)
        total = need(data, "total_results", int, what, "data")
        entries = need_rows(data, "full_order_info_list", what, {"full_order_info": dict})
        for number, entry in enumerate(entries):
            where = f"'full_order_info_list'[{number}].full_order_info"
            order = entry["full_order_info"]
            for key in ("order_info", "buyer_info", "pay_info"):
                need(order, key, dict, what, where)
            need(order["order_info"], "tid", str, what, where + ".order_info")
        return total, [entry["full_order_info"] for entry in entries]

    def _window(self, first: int, last: int) -> str:
        return describe("Youzan", TRADES, {"start_update": fmt(first), "end_update": fmt(last)})

    def _read_page(
        self, first: int, last: int, page_no: int, total: int, answer: tuple[int, list[dict]] | None = None
    ) -> tuple[int, list[dict]]:
        """Page `page_no` once its length agrees with `total`: every page but the last full, the last
        holding the rest. A short (or long) page is read again, up to `rereads` reads, then fails. A page
        whose total moved is returned as it is: that is the window's problem."""
        issue = ""
        for reading in range(1, self.config.rereads + 1):
            page_total, rows = answer if answer is not None else self._search(first, last, page_no)
            answer = None
            expected = min(PAGE_SIZE, total - (page_no - 1) * PAGE_SIZE)
            if page_total != total or len(rows) == expected:
                return page_total, rows
            issue = f"page_no={page_no} holds {len(rows)} rows, expected {expected} (total_results {total})"
            log.warning("%s: %s (read %d of %d)", self._window(first, last), issue, reading, self.config.rereads)
        raise IncompleteResponse(f"{self._window(first, last)}: {issue}, on each of {self.config.rereads} reads")

    def _read_window(self, first: int, last: int) -> tuple[int, list[dict]]:
        """Every order of one window, checked against page 1's total_results: each page's length (see
        `_read_page`), the same total on every page, and total_results distinct tids in all. A total that
        moves or tids that repeat across pages (an order updated while we paged shifts the offsets) mean
        the pages do not add up: the whole window is read again, up to `rereads` reads, then fails."""
        issue = ""
        for reading in range(1, self.config.rereads + 1):
            total, head = self._search(first, last, 1)
            if total > PAGE_SIZE * MAX_PAGES:
                return total, head  # the caller splits the window
            orders: list[dict] = []
            issue = ""
            for page_no in range(1, max(-(-total // PAGE_SIZE), 1) + 1):
                answer = (total, head) if page_no == 1 else None
                page_total, rows = self._read_page(first, last, page_no, total, answer)
                if page_total != total:
                    issue = f"total_results moved from {total} to {page_total} at page_no={page_no}"
                    break
                orders.extend(rows)
            if not issue:
                distinct = len({order["order_info"]["tid"] for order in orders})
                if distinct == total:
                    return total, orders
                issue = f"{distinct} distinct orders on the pages, total_results {total}"
            log.warning("%s: %s (read %d of %d)", self._window(first, last), issue, reading, self.config.rereads)
        raise IncompleteResponse(f"{self._window(first, last)}: {issue}, on each of {self.config.rereads} reads")

    def orders_updated(self, start: int, end: int) -> Iterator[dict]:
        """Every order whose update_time is in [start, end], each once. A window holding more than the
        10,000 orders paging can reach is halved until it fits."""
        windows = [(start, end)]
        seen: set[str] = set()
        while windows:
            first, last = windows.pop(0)
            total, orders = self._read_window(first, last)
            if total > PAGE_SIZE * MAX_PAGES and last - first > 1:
                middle = (first + last) // 2
                windows[:0] = [(first, middle), (middle + 1, last)]
                log.info("Youzan: %d orders in %s..%s, splitting the window", total, fmt(first), fmt(last))
                continue
            if total > PAGE_SIZE * MAX_PAGES:
                raise IncompleteResponse(f"{self._window(first, last)}: {total} orders, more than paging reaches")
            for order in orders:
                tid = order["order_info"]["tid"]
                if tid not in seen:  # an order updated between windows is emitted once
                    seen.add(tid)
                    yield order

    def user(self, **query: str) -> list[dict]:
        what = describe("Youzan", "youzan.users.info.query 1.0.1", query)
        data = self.call("youzan.users.info.query", "1.0.1", query)
        users = need_rows(data, "user_list", what, {"primitive_info": dict})
        for number, user in enumerate(users):
            need(user["primitive_info"], "yz_open_id", str, what, f"'user_list'[{number}].primitive_info")
        return users
