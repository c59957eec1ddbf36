"""The WeCom customer-contact API (../shared/contracts/wecom_youzan_api.md §0-§7): HTTP 200 with
errcode for every known path, token only in the query string, documented limits and errcodes."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from siyu_sim.faults import FaultPlan, PayloadFault, inject
from siyu_sim.tokens import TokenStore
from siyu_sim.world_state import WorldState, credentials

DAY = 86_400
ERRMSG = {
    0: "ok",
    -1: "system busy",
    40001: "invalid credential",
    40003: "invalid userid",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40050: "chatid not found",
    40058: "invalid Request Parameter",
    40068: "invalid tagid",
    40096: "invalid external userid",
    41001: "access_token missing",
    41004: "corpsecret missing",
    42001: "access_token expired",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    60111: "userid not found",
    81017: "request count exceed limit",
    84061: "not external contact",
}
# Error responses still carry the endpoint's empty default fields (contract §0).
DEFAULTS = {
    "get_follow_user_list": {"follow_user": []},
    "list": {"external_userid": []},
    "batch/get_by_user": {"external_contact_list": []},
    "groupchat/list": {"group_chat_list": []},
}
# The documented key each answer's payload faults act on (faults.PAYLOAD_FAULT_KINDS).
PAYLOAD_KEYS = {
    "gettoken": "access_token",
    "get_follow_user_list": "follow_user",
    "list": "external_userid",
    "get": "external_contact",
    "batch/get_by_user": "external_contact_list",
    "get_corp_tag_list": "tag_group",
    "add_corp_tag": "tag_group",
    "groupchat/list": "group_chat_list",
    "groupchat/get": "group_chat",
    "get_user_behavior_data": "behavior_data",
    "groupchat/statistic": "items",
    "groupchat/statistic_group_by_day": "items",
    "list_contact_way": "contact_way",
    "get_contact_way": "contact_way",
    "get_unassigned_list": "info",
    "transfer_result": "customer",
    "resigned/transfer_result": "customer",
}


def wecom_error(errcode: int, endpoint: str = "", detail: str = "") -> JSONResponse:
    message = ERRMSG.get(errcode, "error")
    if errcode:
        message = (
            f"{message}{', ' + detail if detail else ''}, hint: [sim], from ip: 127.0.0.1, "
            f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
        )
    return JSONResponse({"errcode": errcode, "errmsg": message, **DEFAULTS.get(endpoint, {})})


def ok(**payload: Any) -> JSONResponse:
    return JSONResponse({"errcode": 0, "errmsg": "ok", **payload})


class BadRequest(Exception):
    def __init__(self, detail: str, errcode: int = 40058):
        super().__init__(detail)
        self.errcode = errcode
        self.detail = detail


def encode_cursor(offset: int, key: str) -> str:
    raw = json.dumps({"o": offset, "k": hashlib.sha1(key.encode()).hexdigest()[:10]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, key: str) -> int:
    if not cursor:
        return 0
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if raw["k"] != hashlib.sha1(key.encode()).hexdigest()[:10]:
            raise ValueError("cursor belongs to another query")
        return int(raw["o"])
    except (ValueError, KeyError, json.JSONDecodeError) as error:
        raise BadRequest(f"invalid cursor: {error}") from error


def page(rows: list, offset: int, limit: int, key: str) -> tuple[list, str]:
    chunk = rows[offset : offset + limit]
    next_cursor = encode_cursor(offset + limit, key) if offset + limit < len(rows) else ""
    return chunk, next_cursor


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise BadRequest(f"{name} must be an integer") from error


def _none_if_nan(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


class WeComSimulator:
    def __init__(self, state: WorldState, faults: FaultPlan, tokens: TokenStore):
        self.state = state
        self.faults = faults
        self.tokens = tokens
        self.creds = credentials(state.meta)
        self.calls: dict[str, int] = {}
        self.router = APIRouter(prefix="/cgi-bin")
        self.router.add_api_route("/gettoken", self.gettoken, methods=["GET"])
        self._routes: dict[str, tuple[str, Callable]] = {
            "externalcontact/get_follow_user_list": ("GET", self.get_follow_user_list),
            "externalcontact/list": ("GET", self.list_contacts),
            "externalcontact/get": ("GET", self.get_contact),
            "externalcontact/batch/get_by_user": ("POST", self.batch_get_by_user),
            "externalcontact/get_corp_tag_list": ("POST", self.get_corp_tag_list),
            "externalcontact/mark_tag": ("POST", self.mark_tag),
            "externalcontact/add_corp_tag": ("POST", self.add_corp_tag),
            "externalcontact/groupchat/list": ("POST", self.groupchat_list),
            "externalcontact/groupchat/get": ("POST", self.groupchat_get),
            "externalcontact/get_user_behavior_data": ("POST", self.user_behavior),
            "externalcontact/groupchat/statistic": ("POST", self.group_statistic),
            "externalcontact/groupchat/statistic_group_by_day": ("POST", self.group_statistic_by_day),
            "externalcontact/list_contact_way": ("POST", self.list_contact_way),
            "externalcontact/get_contact_way": ("POST", self.get_contact_way),
            "externalcontact/get_unassigned_list": ("POST", self.get_unassigned_list),
            "externalcontact/transfer_result": ("POST", self.transfer_result),
            "externalcontact/resigned/transfer_result": ("POST", self.transfer_result),
        }
        self.router.add_api_route("/{path:path}", self.dispatch, methods=["GET", "POST"])

    # ---- plumbing --------------------------------------------------------------------------------
    async def gettoken(self, request: Request) -> Response:
        fault = await self._fault("gettoken")
        if fault is not None and not isinstance(fault, PayloadFault):
            return fault
        corpid = request.query_params.get("corpid")
        secret = request.query_params.get("corpsecret")
        if not secret:
            return wecom_error(41004)
        if corpid != self.creds["corp_id"]:
            return wecom_error(40013)
        if secret != self.creds["corp_secret"]:
            return wecom_error(40001)
        token, expires_in = self.tokens.issue(f"wecom:{corpid}")
        payload = {"access_token": token, "expires_in": expires_in}
        if fault is not None:
            payload = fault.apply(payload, PAYLOAD_KEYS["gettoken"])
        return ok(**payload)

    async def dispatch(self, path: str, request: Request) -> Response:
        route = self._routes.get(path)
        if route is None:
            return Response(status_code=404)  # unknown path: 404 with an empty body
        method, handler = route
        endpoint = path.removeprefix("externalcontact/")
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
        fault = await self._fault(endpoint)
        if fault is not None and not isinstance(fault, PayloadFault):
            return fault
        # The token is checked first, and only in the query string.
        token_state = self.tokens.check(request.query_params.get("access_token"))
        if token_state != "ok":
            code = {"missing": 41001, "invalid": 40014, "expired": 42001}[token_state]
            return wecom_error(code, endpoint)
        if request.method != method:
            return wecom_error(40058, endpoint, f"use {method}")
        if method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body must be an object")
            except ValueError:
                return wecom_error(40058, endpoint, "invalid json")
        else:
            body = dict(request.query_params)
        try:
            with self.state.lock:
                response = handler(body)
        except BadRequest as error:
            return wecom_error(error.errcode, endpoint, error.detail)
        if fault is not None:
            payload = json.loads(response.body)
            if payload.get("errcode") == 0:
                payload = fault.apply(payload, PAYLOAD_KEYS.get(endpoint), str(body.get("cursor") or ""))
            response = JSONResponse(payload)
        return response

    async def _fault(self, endpoint: str) -> Response | PayloadFault | None:
        def invalidated() -> Response:
            self.tokens.invalidate_all()
            return wecom_error(40014, endpoint)

        return await inject(
            self.faults,
            {
                "rate_limit": lambda: wecom_error(45009, endpoint),
                "concurrency": lambda: wecom_error(45033, endpoint),
                "token_invalidated": invalidated,
                "malformed_json": lambda: Response(
                    '{"errcode": 0, "errmsg": "ok", "external_', media_type="application/json"
                ),
            },
            endpoint,
        )

    # ---- customers -------------------------------------------------------------------------------
    def get_follow_user_list(self, body: dict) -> Response:
        return ok(follow_user=self.state.active_userids())

    def _relations_of(self, userid: str) -> pd.DataFrame:
        live = self.state.live_relations
        userids = self.state.cached_query(("live_userids",), lambda: live["userid"].to_numpy())
        return live.iloc[np.searchsorted(userids, userid, "left") : np.searchsorted(userids, userid, "right")]

    def list_contacts(self, body: dict) -> Response:
        userid = body.get("userid")
        if not userid or userid not in self.state.staff.index:
            raise BadRequest("userid not found", 60111)
        return ok(external_userid=self._relations_of(userid)["external_userid"].tolist())

    def _contact(self, external_userid: str) -> dict:
        row = self.state.contact_records[external_userid]
        contact = {
            "external_userid": external_userid,
            "name": row["name"],
            "type": int(row["type"]),
            "gender": int(row["gender"]),
        }
        if pd.notna(row["unionid"]):
            contact["unionid"] = row["unionid"]
        if row["type"] == 2:
            contact.update(position="采购", corp_name=row["corp_name"], corp_full_name=f"{row['corp_name']}有限公司")
        contact["avatar"] = f"http://wx.qlogo.cn/mmhead/{external_userid[-8:]}/0"
        return contact

    def _follow_info(self, rel: dict | pd.Series) -> dict:
        info = {
            "userid": rel["userid"],
            "remark": rel["remark"],
            "description": "",
            "createtime": int(rel["createtime"]),
            "tag_id": list(self.state.relation_tags.get((rel["userid"], rel["external_userid"]), [])),
            "remark_mobiles": list(rel["remark_mobiles"]),
            "oper_userid": rel["oper_userid"],
            "add_way": int(rel["add_way"]),
        }
        if rel["state"]:
            info["state"] = rel["state"]
        return info

    def get_contact(self, body: dict) -> Response:
        external_userid = body.get("external_userid")
        live = self.state.live_relations
        rows = live[live["external_userid"] == external_userid]
        if rows.empty or external_userid not in self.state.contact_records:
            raise BadRequest("external contact not found", 40096)
        follow_users = []
        for _, rel in rows.iterrows():
            info = self._follow_info(rel)
            tag_ids = info.pop("tag_id")
            info["tags"] = [
                {
                    "group_name": self._tag_group_name(t),
                    "tag_name": self.state.tags.loc[t, "name"],
                    "tag_id": t,
                    "type": 1,
                }
                for t in tag_ids
                if t in self.state.tags.index
            ]
            follow_users.append(info)
        return ok(external_contact=self._contact(external_userid), follow_user=follow_users, next_cursor="")

    def _tag_group_name(self, tag_id: str) -> str:
        group_id = self.state.tags.loc[tag_id, "group_id"]
        groups = self.state.tag_groups
        return groups.loc[groups["group_id"] == group_id, "group_name"].iloc[0]

    def batch_get_by_user(self, body: dict) -> Response:
        userids = body.get("userid_list")
        if not isinstance(userids, list) or not userids:
            raise BadRequest("userid_list required")
        if len(userids) > 100:
            raise BadRequest("userid_list exceeds 100")
        limit = min(_int(body.get("limit", 50) or 50, "limit"), 100)
        if limit < 1:
            raise BadRequest("limit must be positive")
        unknown = [u for u in userids if u not in self.state.staff.index]
        if len(unknown) == len(userids):
            raise BadRequest("userid not found", 60111)
        key = "batch:" + ",".join(userids)
        offset = decode_cursor(body.get("cursor"), key)
        rel = self.state.cached_query(
            ("batch_get_by_user", key),
            lambda: [r for u in userids for r in self._relations_of(u).to_dict("records")],
        )
        chunk = rel[offset : offset + limit]
        next_cursor = encode_cursor(offset + limit, key) if offset + limit < len(rel) else ""
        items = [
            {"external_contact": self._contact(r["external_userid"]), "follow_info": self._follow_info(r)}
            for r in chunk
        ]
        return ok(external_contact_list=items, next_cursor=next_cursor)

    # ---- tags --------------------------------------------------------------------------------------
    def get_corp_tag_list(self, body: dict) -> Response:
        tag_ids, group_ids = body.get("tag_id") or [], body.get("group_id") or []
        tags, groups = self.state.tags, self.state.tag_groups
        filtered = bool(tag_ids or group_ids)
        if group_ids:
            groups = groups[groups["group_id"].isin(group_ids)]
        elif tag_ids:
            groups = groups[groups["group_id"].isin(tags.loc[tags["tag_id"].isin(tag_ids), "group_id"])]
        result = []
        for _, group in groups.iterrows():
            members = tags[tags["group_id"] == group["group_id"]]
            if tag_ids and not group_ids:
                members = members[members["tag_id"].isin(tag_ids)]
            entry = {
                "group_id": group["group_id"],
                "group_name": group["group_name"],
                "create_time": self.state.meta["start_ts"] - 86_400 * 60,
                "order": int(group["order"]),
                "tag": [
                    {
                        "id": t["tag_id"],
                        "name": t["name"],
                        "create_time": self.state.meta["start_ts"] - 86_400 * 60,
                        "order": int(t["order"]),
                        **({"deleted": False} if filtered else {}),
                    }
                    for _, t in members.iterrows()
                ],
            }
            if tag_ids and not group_ids:
                entry["deleted"] = False
            result.append(entry)
        return ok(tag_group=result)

    def mark_tag(self, body: dict) -> Response:
        userid, external_userid = body.get("userid"), body.get("external_userid")
        add, remove = body.get("add_tag") or [], body.get("remove_tag") or []
        if not add and not remove:
            raise BadRequest("add_tag and remove_tag both empty")
        key = (userid, external_userid)
        live_pairs = self.state.cached_query(
            ("live_pairs",),
            lambda: set(
                zip(self.state.live_relations["userid"], self.state.live_relations["external_userid"], strict=True)
            ),
        )
        if key not in live_pairs:
            raise BadRequest("not a contact of this member", 84061)
        unknown = [t for t in add + remove if t not in self.state.tags.index]
        if unknown:
            raise BadRequest(f"invalid tag id {unknown[0]}", 40068)
        current = self.state.relation_tags.setdefault(key, [])
        for tag in add:
            if tag not in current:
                current.append(tag)
        for tag in remove:
            if tag in current:
                current.remove(tag)
        self.calls["mark_tag:applied"] = self.calls.get("mark_tag:applied", 0) + 1
        return ok()

    def add_corp_tag(self, body: dict) -> Response:
        """add_corp_tag: tags into the group named (created when new); answers the group with every tag
        asked for, existing ones included, as WeCom answers a repeated name."""
        group_name, tags = body.get("group_name"), body.get("tag") or []
        if not group_name or not tags or any(len(t.get("name", "")) > 30 or not t.get("name") for t in tags):
            raise BadRequest("group_name and tag names (1-30 characters) required", 40058)
        names = [t["name"] for t in tags]
        self.add_corp_tags(group_name, names)
        group_id = "etGRP" + hashlib.sha1(group_name.encode()).hexdigest()[:10]
        created = self.state.meta["end_ts"]
        return ok(
            tag_group={
                "group_id": group_id,
                "group_name": group_name,
                "create_time": created,
                "order": 0,
                "tag": [
                    {
                        "id": "etTAG" + hashlib.sha1(f"{group_name}/{name}".encode()).hexdigest()[:10],
                        "name": name,
                        "create_time": created,
                        "order": 0,
                    }
                    for name in names
                ],
            }
        )

    def add_corp_tags(self, group_name: str, names: list[str]) -> None:
        """Used by the simulator's admin API so writeback tests can create the tags they mark."""
        state = self.state
        group_id = "etGRP" + hashlib.sha1(group_name.encode()).hexdigest()[:10]
        if group_id not in set(state.tag_groups["group_id"]):
            state.tag_groups.loc[len(state.tag_groups)] = {"group_id": group_id, "group_name": group_name, "order": 0}
        for name in names:
            tag_id = "etTAG" + hashlib.sha1(f"{group_name}/{name}".encode()).hexdigest()[:10]
            if tag_id not in state.tags.index:
                state.tags.loc[tag_id] = {"tag_id": tag_id, "group_id": group_id, "name": name, "order": 0}

    # ---- groups ------------------------------------------------------------------------------------
    def _owner_filter(self, body: dict) -> list[str] | None:
        owners = (body.get("owner_filter") or {}).get("userid_list")
        if owners is None:
            if len(self.state.staff) > 1000:
                raise BadRequest("owner_filter required when more than 1000 members are visible", 81017)
            return None
        if len(owners) > 100:
            raise BadRequest("owner_filter.userid_list exceeds 100")
        return owners

    def _visible_groups(self) -> pd.DataFrame:
        groups = self.state.groups
        return groups[groups["create_time"] <= self.state.now]

    def groupchat_list(self, body: dict) -> Response:
        if "limit" not in body:
            raise BadRequest("limit required")
        limit = _int(body["limit"], "limit")
        if not 1 <= limit <= 1000:
            raise BadRequest("limit must be 1-1000")
        status_filter = _int(body.get("status_filter", 0), "status_filter")
        owners = self._owner_filter(body)
        rows = []
        for chat_id, chat in self._visible_groups().iterrows():
            owner, status = self.state.group_owner(chat)
            if owners is not None and owner not in owners:
                continue
            if status_filter and status != status_filter:
                continue
            rows.append({"chat_id": chat_id, "status": status})
        key = f"groups:{status_filter}:{owners}"
        chunk, next_cursor = page(rows, decode_cursor(body.get("cursor"), key), limit, key)
        return ok(group_chat_list=chunk, next_cursor=next_cursor)

    def groupchat_get(self, body: dict) -> Response:
        chat_id = body.get("chat_id")
        groups = self._visible_groups()
        if chat_id not in groups.index:
            raise BadRequest("chat_id not found", 40050)
        chat = groups.loc[chat_id]
        owner, _ = self.state.group_owner(chat)
        need_name = _int(body.get("need_name", 0), "need_name") == 1
        now = self.state.now
        members = self.state.group_members.get(chat_id)
        member_list = [
            {
                "userid": owner,
                "type": 1,
                "join_time": int(max(chat["create_time"], chat["owner_changed_at"] if owner != chat["owner"] else 0)),
                "join_scene": 1,
                "group_nickname": "",
                **({"name": owner} if need_name else {}),
            }
        ]
        if members is not None:
            present = members[
                (members["join_time"] <= now) & (members["leave_time"].isna() | (members["leave_time"] > now))
            ]
            for _, m in present.iterrows():
                item = {
                    "userid": m["userid"],
                    "type": 2,
                    "join_time": int(m["join_time"]),
                    "join_scene": int(m["join_scene"]),
                    "group_nickname": m["group_nickname"],
                }
                if pd.notna(m["unionid"]):
                    item["unionid"] = m["unionid"]
                if pd.notna(m["invitor"]):
                    item["invitor"] = {"userid": m["invitor"]}
                if pd.notna(m["state"]):
                    item["state"] = m["state"]
                if need_name:
                    item["name"] = m["group_nickname"]
                member_list.append(item)
        version = hashlib.md5(",".join(sorted(x["userid"] for x in member_list)).encode()).hexdigest()
        return ok(
            group_chat={
                "chat_id": chat_id,
                "name": chat["name"],
                "owner": owner,
                "create_time": int(chat["create_time"]),
                "notice": chat["notice"],
                "member_list": member_list,
                "admin_list": [],
                "member_version": version,
            }
        )

    # ---- statistics ----------------------------------------------------------------------------------
    def _window(self, begin: Any, end: Any, begin_name: str) -> tuple[int, int]:
        """Day-granular closed window, floored to 00:00; ≤ 30 days; only the last 180 days, up to yesterday."""
        if begin is None:
            raise BadRequest(f"{begin_name} required")
        start_ts = self.state.meta["start_ts"]
        first = start_ts + (_int(begin, begin_name) - start_ts) // DAY * DAY
        last = start_ts + (_int(end if end is not None else begin, "end") - start_ts) // DAY * DAY
        today = self.state.today_start
        if last < first:
            raise BadRequest("end before begin")
        if last - first > 30 * DAY:
            raise BadRequest("time span exceeds 30 days")
        if first < today - 180 * DAY:
            raise BadRequest("only the last 180 days are available")
        if last >= today:
            raise BadRequest("statistics are available up to yesterday")
        return first, last

    def user_behavior(self, body: dict) -> Response:
        userids, partyids = body.get("userid") or [], body.get("partyid") or []
        if not userids and not partyids:
            raise BadRequest("userid and partyid both empty")
        if len(userids) > 100 or len(partyids) > 100:
            raise BadRequest("userid or partyid exceeds 100")
        first, last = self._window(body.get("start_time"), body.get("end_time"), "start_time")
        staff = self.state.staff
        members = set(userids)
        if partyids:
            store_ids = {f"S{int(p):04d}" for p in partyids}
            members |= set(staff.index[staff["store_id"].isin(store_ids)])
        data = self.state.behaviour
        data = data[data["userid"].isin(members) & (data["stat_time"] >= first) & (data["stat_time"] <= last)]
        items = []
        for day in range(first, last + 1, DAY):
            rows = data[data["stat_time"] == day]
            item = {
                "stat_time": day,
                "chat_cnt": int(rows["chat_cnt"].sum()),
                "message_cnt": int(rows["message_cnt"].sum()),
                "negative_feedback_cnt": int(rows["negative_feedback_cnt"].sum()),
                "new_apply_cnt": int(rows["new_apply_cnt"].sum()),
                "new_contact_cnt": int(rows["new_contact_cnt"].sum()),
            }
            if item["chat_cnt"] > 0 and rows["reply_percentage"].notna().any():
                replied = rows.dropna(subset=["reply_percentage"])
                item["reply_percentage"] = round(float(replied["reply_percentage"].mean()), 2)
                reply_time = replied["avg_reply_time"].dropna()
                if not reply_time.empty:  # nobody replied: WeCom leaves the field out
                    item["avg_reply_time"] = round(float(reply_time.mean()))
            items.append(item)
        return ok(behavior_data=items)

    STAT_FIELDS = (
        "new_chat_cnt",
        "chat_total",
        "chat_has_msg",
        "new_member_cnt",
        "member_total",
        "member_has_msg",
        "msg_total",
        "migrate_trainee_chat_cnt",
    )

    def _statistic_rows(self, body: dict) -> tuple[pd.DataFrame, int, int]:
        first, last = self._window(body.get("day_begin_time"), body.get("day_end_time"), "day_begin_time")
        owners = self._owner_filter(body)
        data = self.state.group_statistic
        data = data[(data["stat_time"] >= first) & (data["stat_time"] <= last)]
        if owners is not None:
            data = data[data["owner"].isin(owners)]
        return data, first, last

    def group_statistic(self, body: dict) -> Response:
        """By owner over the window: event counts summed, 'as of' totals from the window's last day."""
        data, _, _last = self._statistic_rows(body)
        summed = data.groupby("owner")[
            [
                "new_chat_cnt",
                "new_member_cnt",
                "msg_total",
                "chat_has_msg",
                "member_has_msg",
                "migrate_trainee_chat_cnt",
            ]
        ].sum()
        as_of = data[data["stat_time"] == data.groupby("owner")["stat_time"].transform("max")].set_index("owner")[
            ["chat_total", "member_total"]
        ]
        table = summed.join(as_of).fillna(0).astype(np.int64).reset_index()
        order_by = _int(body.get("order_by", 1), "order_by")
        column = {1: "new_chat_cnt", 2: "chat_total", 3: "new_member_cnt", 4: "member_total"}.get(order_by)
        if column is None:
            raise BadRequest("order_by must be 1-4")
        ascending = _int(body.get("order_asc", 0), "order_asc") == 1
        table = table.sort_values([column, "owner"], ascending=[ascending, True], kind="stable")
        offset = _int(body.get("offset", 0), "offset")
        limit = _int(body.get("limit", 500), "limit")
        if not 1 <= limit <= 1000:
            raise BadRequest("limit must be 1-1000")
        chunk = table.iloc[offset : offset + limit]
        items = [{"owner": r["owner"], "data": {f: int(r[f]) for f in self.STAT_FIELDS}} for _, r in chunk.iterrows()]
        return ok(total=len(table), next_offset=min(offset + limit, len(table)), items=items)

    def group_statistic_by_day(self, body: dict) -> Response:
        data, first, last = self._statistic_rows(body)
        daily = data.groupby("stat_time")[list(self.STAT_FIELDS)].sum()
        items = []
        for day in range(first, last + 1, DAY):
            values = daily.loc[day] if day in daily.index else None
            items.append(
                {"stat_time": day, "data": {f: int(values[f]) if values is not None else 0 for f in self.STAT_FIELDS}}
            )
        return ok(items=items)

    # ---- contact ways and inheritance ------------------------------------------------------------------
    def list_contact_way(self, body: dict) -> Response:
        now = self.state.now
        start = _int(body.get("start_time", now - 90 * DAY), "start_time")
        end = _int(body.get("end_time", now), "end_time")
        limit = _int(body.get("limit", 100), "limit")
        if not 1 <= limit <= 1000:
            raise BadRequest("limit must be 1-1000")
        ways = self.state.contact_ways
        rows = [
            {"config_id": c} for c in ways.loc[(ways["created_at"] >= start) & (ways["created_at"] <= end), "config_id"]
        ]
        key = f"ways:{start}:{end}"
        chunk, next_cursor = page(rows, decode_cursor(body.get("cursor"), key), limit, key)
        return ok(contact_way=chunk, next_cursor=next_cursor)

    def get_contact_way(self, body: dict) -> Response:
        config_id = body.get("config_id")
        ways = self.state.contact_ways
        if config_id not in ways.index:
            raise BadRequest("config_id not found")
        way = ways.loc[config_id]
        return ok(
            contact_way={
                "config_id": config_id,
                "type": int(way["type"]),
                "scene": int(way["scene"]),
                "remark": way["remark"],
                "skip_verify": True,
                "state": way["state"],
                "qr_code": f"https://wework.qpic.cn/wwpic/{config_id[:12]}/0",
                "user": list(way["user"]),
                "party": [],
                "is_temp": False,
                "mark_source": True,
            }
        )

    def get_unassigned_list(self, body: dict) -> Response:
        page_size = _int(body.get("page_size", 1000), "page_size")
        if not 1 <= page_size <= 1000:
            raise BadRequest("page_size must be 1-1000")
        now = self.state.now
        transfers = self.state.transfers
        waiting = transfers[
            (transfers["dimission_time"] <= now)
            & (transfers["takeover_time"].isna() | (transfers["takeover_time"] > now))
        ]
        rows = [
            {
                "handover_userid": r["handover_userid"],
                "external_userid": r["external_userid"],
                "dimission_time": int(r["dimission_time"]),
            }
            for _, r in waiting.iterrows()
        ]
        if body.get("cursor"):
            offset = decode_cursor(body["cursor"], "unassigned")
        else:
            offset = _int(body.get("page_id", 0), "page_id") * page_size
        chunk, next_cursor = page(rows, offset, page_size, "unassigned")
        return ok(info=chunk, is_last=not next_cursor, next_cursor=next_cursor)

    def transfer_result(self, body: dict) -> Response:
        handover, takeover = body.get("handover_userid"), body.get("takeover_userid")
        if not handover or not takeover:
            raise BadRequest("handover_userid and takeover_userid required")
        now = self.state.now
        transfers = self.state.transfers
        rows = transfers[
            (transfers["handover_userid"] == handover)
            & (transfers["takeover_userid"] == takeover)
            & (transfers["dimission_time"] <= now)
        ]
        result = []
        for _, r in rows.iterrows():
            done = pd.notna(r["takeover_time"]) and r["takeover_time"] <= now
            status = int(r["status"]) if done else 2
            result.append(
                {
                    "external_userid": r["external_userid"],
                    "status": status,
                    "takeover_time": int(_none_if_nan(r["takeover_time"]) or 0),
                }
            )
        key = f"transfer:{handover}:{takeover}"
        chunk, next_cursor = page(result, decode_cursor(body.get("cursor"), key), 1000, key)
        return ok(customer=chunk, next_cursor=next_cursor)
