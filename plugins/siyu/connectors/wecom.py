"""WeCom customer-contact connector: cached tokens, refresh on token errors, backoff on limits and
faults, cursor and offset paging to the end, batched userids and windowed statistics."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

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

log = logging.getLogger(__name__)
TOKEN_ERRORS = {40001, 40014, 42001}  # refresh the token and retry once (wechatpy does the same)
TRANSIENT_ERRORS = {-1, 45009, 45033}
DAY = 86_400
MAX_USERIDS = 100
STAT_WINDOW_DAYS = 30


class WeComError(SourceError):
    def __init__(self, endpoint: str, errcode: int, errmsg: str):
        super().__init__(f"WeCom {endpoint}: errcode {errcode}: {errmsg}")
        self.endpoint, self.errcode, self.errmsg = endpoint, errcode, errmsg


@dataclass(frozen=True)
class WeComConfig:
    base_url: str
    corp_id: str
    corp_secret: str
    timeout_seconds: float = 10.0
    max_attempts: int = 8
    max_wait_seconds: float = 8.0
    request_budget: int = 100_000


class _TokenCache:
    """One token per corp and app (secret), shared by every client in the process."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            token, expires_at = self._tokens.get(key, (None, 0.0))
            return token if token and expires_at > time.monotonic() else None

    def put(self, key: str, token: str, expires_in: int) -> None:
        with self._lock:
            # Renew five minutes early so a long page loop does not run into expiry.
            self._tokens[key] = (token, time.monotonic() + max(expires_in - 300, 1))

    def drop(self, key: str, token: str) -> None:
        with self._lock:
            if self._tokens.get(key, (None,))[0] == token:
                del self._tokens[key]


TOKENS = _TokenCache()


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def day_windows(first_day: int, last_day: int, span_days: int = STAT_WINDOW_DAYS) -> Iterator[tuple[int, int]]:
    """Closed [begin, end] windows of day-start timestamps, each at most `span_days` long."""
    begin = first_day
    while begin <= last_day:
        end = min(begin + (span_days - 1) * DAY, last_day)
        yield begin, end
        begin = end + DAY


class WeComClient:
    def __init__(self, config: WeComConfig, budget: RequestBudget | None = None):
        self.config = config
        self.budget = budget or RequestBudget(config.request_budget)
        self.http = httpx.Client(base_url=config.base_url, timeout=config.timeout_seconds)
        secret_hash = hashlib.sha256(config.corp_secret.encode()).hexdigest()[:12]
        self._token_key = f"{config.base_url}|{config.corp_id}|{secret_hash}"
        self.token_refreshes = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> WeComClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- transport ---------------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        for attempt in Retrying(**retry_policy(self.config.max_attempts, self.config.max_wait_seconds)):
            with attempt:
                self.budget.spend("gettoken")
                try:
                    response = self.http.get(
                        "/cgi-bin/gettoken",
                        params={"corpid": self.config.corp_id, "corpsecret": self.config.corp_secret},
                    )
                except TRANSIENT_HTTP as error:
                    raise TransientSourceError(f"WeCom gettoken: {type(error).__name__}") from error
                body = read_json(response, "WeCom gettoken")
                errcode = body.get("errcode", 0)
                if errcode in TRANSIENT_ERRORS or (errcode in TOKEN_ERRORS - {40001}):
                    raise TransientSourceError(f"WeCom gettoken: errcode {errcode}")
                if errcode:
                    raise WeComError("gettoken", errcode, body.get("errmsg", ""))
        token = body["access_token"]
        TOKENS.put(self._token_key, token, int(body.get("expires_in", 7200)))
        self.token_refreshes += 1
        return token

    def _token(self) -> str:
        return TOKENS.get(self._token_key) or self._fetch_token()

    def call(self, endpoint: str, body: dict | None = None, params: dict | None = None, method: str = "POST") -> dict:
        """One API call: token from cache, one refresh on token errors, backoff on transient faults."""
        path = f"/cgi-bin/externalcontact/{endpoint}"
        for attempt in Retrying(**retry_policy(self.config.max_attempts, self.config.max_wait_seconds)):
            with attempt:
                answer = None
                for refreshed in (False, True):
                    token = self._token()
                    self.budget.spend(endpoint)
                    try:
                        response = self.http.request(
                            method,
                            path,
                            params={**(params or {}), "access_token": token},
                            json=body if method == "POST" else None,
                        )
                    except TRANSIENT_HTTP as error:
                        raise TransientSourceError(f"WeCom {endpoint}: {type(error).__name__}") from error
                    answer = read_json(response, f"WeCom {endpoint}")
                    errcode = answer.get("errcode", 0)
                    if errcode in TOKEN_ERRORS and not refreshed:
                        log.info("WeCom %s: token rejected (errcode %s), fetching a new one", endpoint, errcode)
                        TOKENS.drop(self._token_key, token)
                        continue
                    break
                errcode = answer.get("errcode", 0)
                if errcode in TRANSIENT_ERRORS or errcode in TOKEN_ERRORS:
                    raise TransientSourceError(f"WeCom {endpoint}: errcode {errcode}")
                if errcode:
                    raise WeComError(endpoint, errcode, answer.get("errmsg", ""))
        return answer

    # ---- endpoints ---------------------------------------------------------------------------------
    def follow_users(self) -> list[str]:
        return self.call("get_follow_user_list", method="GET")["follow_user"]

    def cursor_pages(self, endpoint: str, body: dict, items_key: str) -> Iterator[dict]:
        """Every item of a cursor-paged endpoint: follow next_cursor until it comes back empty."""
        cursor = ""
        while True:
            page = self.call(endpoint, {**body, "cursor": cursor})
            yield from page.get(items_key, [])
            cursor = page.get("next_cursor", "")
            if not cursor:
                return

    def contacts_by_user(self, userids: Sequence[str], limit: int = 100) -> Iterator[dict]:
        """batch/get_by_user for every (customer, member) pair: userids in batches of 100, cursor to the end."""
        for batch in chunks(userids, MAX_USERIDS):
            yield from self.cursor_pages(
                "batch/get_by_user", {"userid_list": batch, "limit": limit}, "external_contact_list"
            )

    def corp_tags(self) -> list[dict]:
        return self.call("get_corp_tag_list", {})["tag_group"]

    def add_corp_tags(self, group_name: str, names: Sequence[str]) -> dict[str, str]:
        """add_corp_tag: the tags (created when new) in the group named; returns name → tag id."""
        answer = self.call("add_corp_tag", {"group_name": group_name, "tag": [{"name": n} for n in names]})
        return {tag["name"]: tag["id"] for tag in answer["tag_group"]["tag"]}

    def mark_tag(self, userid: str, external_userid: str, add: Sequence[str], remove: Sequence[str]) -> None:
        """mark_tag on one friendship. Adding a tag it has or removing one it lacks changes nothing, so a
        retried call is safe."""
        self.call(
            "mark_tag",
            {"userid": userid, "external_userid": external_userid, "add_tag": list(add), "remove_tag": list(remove)},
        )

    def group_chat_ids(self, owners: Sequence[str] | None = None, limit: int = 1000) -> Iterator[dict]:
        for batch in list(chunks(owners, MAX_USERIDS)) if owners else [None]:
            body: dict[str, Any] = {"status_filter": 0, "limit": limit}
            if batch is not None:
                body["owner_filter"] = {"userid_list": batch}
            yield from self.cursor_pages("groupchat/list", body, "group_chat_list")

    def group_chat(self, chat_id: str) -> dict:
        return self.call("groupchat/get", {"chat_id": chat_id, "need_name": 1})["group_chat"]

    def contact_way_ids(self, start_time: int, end_time: int) -> Iterator[str]:
        body = {"start_time": start_time, "end_time": end_time, "limit": 1000}
        yield from (way["config_id"] for way in self.cursor_pages("list_contact_way", body, "contact_way"))

    def contact_way(self, config_id: str) -> dict:
        return self.call("get_contact_way", {"config_id": config_id})["contact_way"]

    def unassigned(self) -> Iterator[dict]:
        yield from self.cursor_pages("get_unassigned_list", {"page_size": 1000}, "info")

    def transfer_results(self, handover: str, takeover: str) -> Iterator[dict]:
        body = {"handover_userid": handover, "takeover_userid": takeover}
        yield from self.cursor_pages("resigned/transfer_result", body, "customer")

    def user_behavior(self, userid: str, first_day: int, last_day: int) -> Iterator[dict]:
        """One guide's daily behaviour: one userid per call, since several are summed into one row per day."""
        for begin, end in day_windows(first_day, last_day):
            page = self.call("get_user_behavior_data", {"userid": [userid], "start_time": begin, "end_time": end})
            for row in page.get("behavior_data", []):
                yield {"userid": userid, **row}

    def group_statistic(self, day: int, owners: Sequence[str]) -> Iterator[dict]:
        """groupchat/statistic for one day, per owner: owners in batches of 100, offset paging to the end."""
        for batch in chunks(owners, MAX_USERIDS):
            offset = 0
            while True:
                page = self.call(
                    "groupchat/statistic",
                    {
                        "day_begin_time": day,
                        "day_end_time": day,
                        "owner_filter": {"userid_list": batch},
                        "offset": offset,
                        "limit": 1000,
                    },
                )
                for item in page.get("items", []):
                    yield {"stat_time": day, "owner": item["owner"], **item["data"]}
                offset = page.get("next_offset", 0)
                if offset >= page.get("total", 0) or not page.get("items"):
                    break
