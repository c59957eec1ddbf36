"""WeCom customer-contact connector: cached tokens, refresh on token errors, backoff on limits and
faults, cursor and offset paging to the end, batched userids and windowed statistics. Every page is
checked against what the API promised (full pages, fresh cursors, totals, one row per day) and every
answer against its documented keys (decisions.md, issue 17)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx

from siyu.connectors.http import (
    REREADS,
    RequestBudget,
    ResponseShapeError,
    SourceError,
    TokenRejected,
    TransientSourceError,
    describe,
    need,
    need_rows,
    read_json,
    reread,
    transport_error,
    with_retries,
)

log = logging.getLogger(__name__)
TOKEN_ERRORS = {40001, 40014, 42001}  # refresh the token on the next attempt (wechatpy refreshes on these too)
TRANSIENT_ERRORS = {-1, 45009, 45033}
DAY = 86_400
MAX_USERIDS = 100
BATCH_LIMIT_MAX = 100  # batch/get_by_user: "最大值100 ... 超过最大值时取最大值"
STAT_WINDOW_DAYS = 30


class WeComError(SourceError):
    def __init__(self, endpoint: str, errcode: int, errmsg: str, call: str | None = None):
        super().__init__(f"{call or 'WeCom ' + endpoint}: errcode {errcode}: {errmsg}")
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
    rereads: int = REREADS  # reads of a page that breaks a paging promise before failing


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


def cursor_page_problem(page_size: int, followed: set[str], page: tuple[list[dict], str]) -> str | None:
    """What is wrong with a cursor page, or None: a page with a next_cursor is full, none holds more than
    asked, and a next_cursor already followed would loop."""
    rows, next_cursor = page
    if len(rows) > page_size:
        return f"page holds {len(rows)} rows, more than the {page_size} asked for"
    if next_cursor and len(rows) < page_size:
        return f"page holds {len(rows)} rows, expected {page_size} before the last page"
    if next_cursor and next_cursor in followed:
        return "next_cursor repeats one already followed (paging would loop)"
    return None


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
    def _send(self, method: str, path: str, what: str, **request) -> dict:
        """One request, no retry: the JSON object, or a transient or fatal SourceError."""
        try:
            response = self.http.request(method, path, **request)
        except httpx.HTTPError as error:
            raise transport_error(what, self.config.base_url, error) from error
        return read_json(response, what)

    def _fetch_token(self, call: str) -> str:
        """One gettoken request, inside the calling request's attempt (no retry loop of its own)."""
        what = f"WeCom gettoken (for {call})"
        self.budget.spend("gettoken")
        body = self._send(
            "GET",
            "/cgi-bin/gettoken",
            what,
            params={"corpid": self.config.corp_id, "corpsecret": self.config.corp_secret},
        )
        errcode = need(body, "errcode", int, what)
        if errcode in TRANSIENT_ERRORS or (errcode in TOKEN_ERRORS - {40001}):
            raise TransientSourceError(f"{what}: errcode {errcode}")
        if errcode:
            raise WeComError("gettoken", errcode, str(body.get("errmsg", "")), what)
        token = need(body, "access_token", str, what)
        expires_in = need(body, "expires_in", int, what)
        TOKENS.put(self._token_key, token, expires_in)
        self.token_refreshes += 1
        return token

    def _token(self, call: str) -> str:
        return TOKENS.get(self._token_key) or self._fetch_token(call)

    def call(self, endpoint: str, body: dict | None = None, params: dict | None = None, method: str = "POST") -> dict:
        """One API call under one retry budget: each attempt takes the cached token (fetching one when
        none is cached or the last was refused) and sends the call. A refused token costs an attempt."""
        path = f"/cgi-bin/externalcontact/{endpoint}"
        what = describe("WeCom", endpoint, {**(params or {}), **(body or {})})

        def attempt() -> dict:
            token = self._token(what)
            self.budget.spend(endpoint)
            answer = self._send(
                method,
                path,
                what,
                params={**(params or {}), "access_token": token},
                json=body if method == "POST" else None,
            )
            errcode = need(answer, "errcode", int, what)
            if errcode in TOKEN_ERRORS:
                log.info("WeCom %s: token rejected (errcode %s), fetching a new one", endpoint, errcode)
                TOKENS.drop(self._token_key, token)
                raise TokenRejected(f"{what}: errcode {errcode}")
            if errcode in TRANSIENT_ERRORS:
                raise TransientSourceError(f"{what}: errcode {errcode}")
            if errcode:
                raise WeComError(endpoint, errcode, str(answer.get("errmsg", "")), what)
            return answer

        return with_retries(what, attempt, self.config.max_attempts, self.config.max_wait_seconds)

    # ---- endpoints ---------------------------------------------------------------------------------
    def follow_users(self) -> list[str]:
        answer = self.call("get_follow_user_list", method="GET")
        users = need(answer, "follow_user", list, "WeCom get_follow_user_list")
        for number, userid in enumerate(users):
            if not isinstance(userid, str):
                raise ResponseShapeError(f"WeCom get_follow_user_list: 'follow_user'[{number}] is not a string")
        return users

    def _cursor_page(self, endpoint: str, body: dict, items_key: str, row_keys: dict) -> tuple[list[dict], str]:
        what = describe("WeCom", endpoint, body)
        page = self.call(endpoint, body)
        return need_rows(page, items_key, what, row_keys), need(page, "next_cursor", str, what)

    def cursor_pages(
        self, endpoint: str, body: dict, items_key: str, page_size: int, row_keys: dict | None = None
    ) -> Iterator[dict]:
        """Every item of a cursor-paged endpoint, following next_cursor until it comes back empty. A page
        with a next_cursor holds exactly `page_size` items (the last at most that), and a next_cursor is
        never one already followed; a page that breaks either is read again, then the pull fails."""
        cursor, followed = "", {""}
        while True:
            request = {**body, "cursor": cursor}
            rows, next_cursor = reread(
                partial(self._cursor_page, endpoint, request, items_key, row_keys or {}),
                partial(cursor_page_problem, page_size, followed),
                describe("WeCom", endpoint, request),
                self.config.rereads,
            )
            yield from rows
            if not next_cursor:
                return
            followed.add(next_cursor)
            cursor = next_cursor

    def contacts_by_user(self, userids: Sequence[str], limit: int = 100) -> Iterator[dict]:
        """batch/get_by_user for every (customer, member) pair: userids in batches of 100, cursor to the end."""
        row_keys = {"external_contact": dict, "follow_info": dict}
        for batch in chunks(userids, MAX_USERIDS):
            for item in self.cursor_pages(
                "batch/get_by_user",
                {"userid_list": batch, "limit": limit},
                "external_contact_list",
                min(limit, BATCH_LIMIT_MAX),
                row_keys,
            ):
                what = "WeCom batch/get_by_user"
                need(item["external_contact"], "external_userid", str, what, "'external_contact'")
                need(item["follow_info"], "userid", str, what, "'follow_info'")
                yield item

    def corp_tags(self) -> list[dict]:
        what = "WeCom get_corp_tag_list"
        groups = need_rows(self.call("get_corp_tag_list", {}), "tag_group", what, {"group_id": str, "tag": list})
        for group in groups:
            need_rows(group, "tag", what, {"id": str, "name": str})
        return groups

    def add_corp_tags(self, group_name: str, names: Sequence[str]) -> dict[str, str]:
        """add_corp_tag: the tags (created when new) in the group named; returns name → tag id."""
        answer = self.call("add_corp_tag", {"group_name": group_name, "tag": [{"name": n} for n in names]})
        group = need(answer, "tag_group", dict, f"WeCom add_corp_tag (group_name={group_name!r})")
        tags = need_rows(group, "tag", f"WeCom add_corp_tag (group_name={group_name!r})", {"id": str, "name": str})
        return {tag["name"]: tag["id"] for tag in tags}

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
            yield from self.cursor_pages("groupchat/list", body, "group_chat_list", limit, {"chat_id": str})

    def group_chat(self, chat_id: str) -> dict:
        body = {"chat_id": chat_id, "need_name": 1}
        what = describe("WeCom", "groupchat/get", body)
        chat = need(self.call("groupchat/get", body), "group_chat", dict, what)
        need(chat, "chat_id", str, what, "'group_chat'")
        need_rows(chat, "member_list", what, {"userid": str})
        return chat

    def contact_way_ids(self, start_time: int, end_time: int) -> Iterator[str]:
        body = {"start_time": start_time, "end_time": end_time, "limit": 1000}
        ways = self.cursor_pages("list_contact_way", body, "contact_way", 1000, {"config_id": str})
        yield from (way["config_id"] for way in ways)

    def contact_way(self, config_id: str) -> dict:
        body = {"config_id": config_id}
        return need(self.call("get_contact_way", body), "contact_way", dict, describe("WeCom", "get_contact_way", body))

    def unassigned(self) -> Iterator[dict]:
        yield from self.cursor_pages(
            "get_unassigned_list", {"page_size": 1000}, "info", 1000, {"handover_userid": str, "external_userid": str}
        )

    def transfer_results(self, handover: str, takeover: str) -> Iterator[dict]:
        body = {"handover_userid": handover, "takeover_userid": takeover}
        # No limit parameter: the documented page is 1,000 rows.
        yield from self.cursor_pages("resigned/transfer_result", body, "customer", 1000, {"external_userid": str})

    def user_behavior(self, userid: str, first_day: int, last_day: int) -> Iterator[dict]:
        """One guide's daily behaviour: one userid per call, since several are summed into one row per day.
        The API answers one row per day of the window, so anything else is read again, then fails."""
        for begin, end in day_windows(first_day, last_day):
            body = {"userid": [userid], "start_time": begin, "end_time": end}
            what = describe("WeCom", "get_user_behavior_data", body)
            days = list(range(begin, end + 1, DAY))

            def read(body=body, what=what) -> list[dict]:
                return need_rows(self.call("get_user_behavior_data", body), "behavior_data", what, {"stat_time": int})

            def problem(rows: list[dict], days=days) -> str | None:
                if [row["stat_time"] for row in rows] == days:
                    return None
                return f"{len(rows)} rows, expected one per day ({len(days)})"

            for row in reread(read, problem, what, self.config.rereads):
                yield {"userid": userid, **row}

    def group_statistic(self, day: int, owners: Sequence[str], limit: int = 1000) -> Iterator[dict]:
        """groupchat/statistic for one day, per owner: owners in batches of 100, offset paging to the end.
        Each page holds min(limit, total - offset) items, next_offset = offset + items, total never moves."""
        for batch in chunks(owners, MAX_USERIDS):
            offset, total = 0, None
            while True:
                body = {
                    "day_begin_time": day,
                    "day_end_time": day,
                    "owner_filter": {"userid_list": batch},
                    "offset": offset,
                    "limit": limit,
                }
                what = describe("WeCom", "groupchat/statistic", body)

                def read(body=body, what=what) -> tuple[int, int, list[dict]]:
                    page = self.call("groupchat/statistic", body)
                    items = need_rows(page, "items", what, {"owner": str, "data": dict})
                    return need(page, "total", int, what), need(page, "next_offset", int, what), items

                def problem(page: tuple[int, int, list[dict]], offset=offset, total=total) -> str | None:
                    page_total, next_offset, items = page
                    if total is not None and page_total != total:
                        return f"total moved from {total} to {page_total}"
                    expected = max(min(limit, page_total - offset), 0)
                    if len(items) != expected or next_offset != offset + len(items):
                        return (
                            f"{len(items)} items and next_offset {next_offset}, expected {expected} items "
                            f"and next_offset {offset + expected} (total {page_total})"
                        )
                    return None

                total, offset, items = reread(read, problem, what, self.config.rereads)
                for item in items:
                    yield {"stat_time": day, "owner": item["owner"], **item["data"]}
                if offset >= total or not items:
                    break
