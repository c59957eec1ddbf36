"""A Youzan-style open API (../shared/contracts/wecom_youzan_api.md §11): token, youzan.trades.sold.get
4.0.4 and youzan.users.info.query, in the {trace_id, code, success, message, data} envelope."""

from __future__ import annotations

import json
import time
from datetime import datetime
from itertools import count
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from siyu_sim.faults import FaultPlan, PayloadFault, inject
from siyu_sim.tokens import TokenStore
from siyu_sim.world.spec import CHINA_TZ
from siyu_sim.world_state import WorldState, credentials

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_SPAN_SECONDS = 366 * 86_400  # the live service answers "每次可搜索一年订单记录"
SOURCE_ENTRANCE = {
    "group": "group_chat",
    "guide_share": "guide_share",
    "moments": "moments",
    "search": "search",
    "ads": "ads",
    "referral": "share",
}
# The documented key each answer's payload faults act on (faults.PAYLOAD_FAULT_KINDS).
PAYLOAD_KEYS = {
    "auth/token": "access_token",
    "youzan.trades.sold.get": "full_order_info_list",
    "youzan.users.info.query": "user_list",
}


class YouzanError(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def fmt_time(ts: Any) -> str:
    if ts is None or (isinstance(ts, float) and np.isnan(ts)) or int(ts) < 0:
        return ""
    return datetime.fromtimestamp(int(ts), CHINA_TZ).strftime(TIME_FORMAT)


def parse_time(value: Any, name: str) -> int:
    try:
        return int(datetime.strptime(str(value), TIME_FORMAT).replace(tzinfo=CHINA_TZ).timestamp())
    except ValueError as error:
        raise YouzanError(101100, f"参数 {name} 格式错误, 应为 yyyy-MM-dd HH:mm:ss") from error


def yuan(fen: Any) -> str:
    return f"{int(fen) / 100:.2f}"


class YouzanSimulator:
    def __init__(self, state: WorldState, faults: FaultPlan, tokens: TokenStore):
        self.state = state
        self.faults = faults
        self.tokens = tokens
        self.creds = credentials(state.meta)
        self.calls: dict[str, int] = {}
        self._trace = count(1)
        self.router = APIRouter()
        self.router.add_api_route("/auth/token", self.token, methods=["POST"])
        self.router.add_api_route("/api/{method}/{version}", self.call, methods=["GET", "POST"])

    def envelope(self, data: Any, code: int = 200, message: str = "successful") -> JSONResponse:
        return JSONResponse(
            {
                "trace_id": f"yz7-sim-{int(time.time() * 1000)}-{next(self._trace)}",
                "code": code,
                "success": code == 200,
                "message": message,
                "data": data,
            }
        )

    async def _fault(self, endpoint: str) -> Response | PayloadFault | None:
        def gateway(code: int, message: str) -> Response:
            return JSONResponse({"gw_err_resp": {"err_code": code, "err_msg": message}})

        def invalidated() -> Response:
            self.tokens.invalidate_all()
            return self.envelope(None, 4201, "非法的请求凭证")

        return await inject(
            self.faults,
            {
                "rate_limit": lambda: gateway(4101, "rate limit"),
                "concurrency": lambda: gateway(4102, "concurrency limit"),
                "token_invalidated": invalidated,
                "malformed_json": lambda: Response(
                    '{"trace_id": "yz7-sim", "code": 200, "success": true, "data": {"full_order_',
                    media_type="application/json",
                ),
            },
            endpoint,
        )

    async def token(self, request: Request) -> Response:
        fault = await self._fault("auth/token")
        if fault is not None and not isinstance(fault, PayloadFault):
            return fault
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return self.envelope(None, 4000, "请求体不是合法的 JSON")
        if body.get("authorize_type") != "silent":
            return self.envelope(None, 4000, "authorize_type 仅支持 silent")
        if (
            body.get("client_id") != self.creds["youzan_client_id"]
            or body.get("client_secret") != self.creds["youzan_client_secret"]
        ):
            return self.envelope(None, 4005, "client_id 或 client_secret 错误")
        if str(body.get("grant_id")) != self.creds["youzan_kdt_id"]:
            return self.envelope(None, 4006, "店铺未授权")
        token, expires_in = self.tokens.issue(f"youzan:{body['grant_id']}")
        data = {
            "access_token": token,
            "expires": int((time.time() + expires_in) * 1000),
            "scope": "trade user",
            "authority_id": self.creds["youzan_kdt_id"],
        }
        if fault is not None:
            data = fault.apply(data, PAYLOAD_KEYS["auth/token"])
        return self.envelope(data)

    async def call(self, method: str, version: str, request: Request) -> Response:
        self.calls[method] = self.calls.get(method, 0) + 1
        fault = await self._fault(method)
        if fault is not None and not isinstance(fault, PayloadFault):
            return fault
        state = self.tokens.check(request.query_params.get("access_token"))
        if state != "ok":
            return self.envelope(
                None,
                4201 if state != "expired" else 4203,
                "非法的请求凭证" if state != "expired" else "access_token 已过期",
            )
        handler = {
            ("youzan.trades.sold.get", "4.0.4"): self.trades_sold_get,
            ("youzan.users.info.query", "1.0.1"): self.users_info_query,
        }.get((method, version))
        if handler is None:
            return self.envelope(None, 5004, f"api {method}/{version} 不存在")
        try:
            params = json.loads(await request.body() or b"{}") if request.method == "POST" else {}
            params.update({k: v for k, v in request.query_params.items() if k != "access_token"})
        except ValueError:
            return self.envelope(None, 4000, "请求体不是合法的 JSON")
        try:
            with self.state.lock:
                data = handler(params)
            if fault is not None:
                data = fault.apply(data, PAYLOAD_KEYS.get(method))
            return self.envelope(data)
        except YouzanError as error:
            return self.envelope(error.data, error.code, error.message)

    def trades_sold_get(self, params: dict) -> dict:
        page_no = int(params.get("page_no", 1))
        page_size = int(params.get("page_size", 20))
        empty = {"total_results": 0, "full_order_info_list": []}
        if not 1 <= page_size <= 100:
            raise YouzanError(101101, "page_size 取值范围 1-100", empty)
        if not 1 <= page_no <= 100:
            raise YouzanError(101102, "page_no 不能超过 100, 请缩小时间范围", empty)
        filters = tuple(sorted((k, str(v)) for k, v in params.items() if k not in ("page_no", "page_size")))
        orders = self.state.cached_query(("trades", filters), lambda: self._search(params))
        chunk = orders[(page_no - 1) * page_size : page_no * page_size]
        return {"total_results": len(orders), "full_order_info_list": [self._order(o) for o in chunk]}

    def _search(self, params: dict) -> list[dict]:
        """Every order matching the search, sorted as the service sorts them, as plain records."""
        orders = self.state.orders_as_of()
        sort_column = "created"
        for prefix, column in (("created", "created"), ("update", "update_time"), ("success", "success_time")):
            start, end = params.get(f"start_{prefix}"), params.get(f"end_{prefix}")
            if start and end:  # an incomplete pair is ignored, as documented
                first, last = parse_time(start, f"start_{prefix}"), parse_time(end, f"end_{prefix}")
                if last - first > MAX_SPAN_SECONDS:
                    raise YouzanError(
                        106000001, "每次可搜索一年订单记录,请重新选择起止时间", {"full_order_info_list": []}
                    )
                values = orders[column].to_numpy()
                orders = orders[(values >= first) & (values <= last)]
                sort_column = column
        if params.get("status"):
            orders = orders[orders["status"] == params["status"]]
        if params.get("tid"):
            orders = orders[orders["tid"] == params["tid"]]
        if params.get("yz_open_id"):
            orders = orders[orders["yz_open_id"] == params["yz_open_id"]]
        return orders.sort_values([sort_column, "tid"], kind="stable").to_dict("records")

    def _order(self, order: dict) -> dict:
        lines = [
            {
                "oid": i["oid"],
                "item_type": 0,
                "title": i["title"],
                "num": int(i["num"]),
                "price": yuan(i["price_fen"]),
                "discount_price": yuan(i["payment_fen"] // max(int(i["num"]), 1)),
                "total_fee": yuan(i["total_fee_fen"]),
                "payment": yuan(i["payment_fen"]),
                "item_id": int(i["item_id"]),
                "sku_id": int(i["item_id"]) + 1,
                "outer_sku_id": i["outer_sku_id"],
                "outer_item_id": f"ITEM-{i['item_id']}",
                "is_present": False,
                "category": i["category"],
            }
            for i in self.state.order_items.get(order["tid"], [])
        ]
        paid = order["pay_time"] >= 0
        refund_order = []
        if order["refund_state"]:
            refund_order = [
                {
                    "refund_id": f"R{order['tid'][1:]}",
                    "refund_fee": yuan(order["refund_fen"]),
                    "refund_state": int(order["refund_state"]),
                    "refund_time": fmt_time(order["refund_time"]),
                    "oids": ",".join(x["oid"] for x in lines),
                }
            ]
        source_ref = order["source_ref"]
        return {
            "full_order_info": {
                "order_info": {
                    "tid": order["tid"],
                    "status": order["status"],
                    "type": 0,
                    "created": fmt_time(order["created"]),
                    "update_time": fmt_time(order["update_time"]),
                    "pay_time": fmt_time(order["pay_time"]),
                    "consign_time": fmt_time(order["consign_time"]),
                    "success_time": fmt_time(order["success_time"]),
                    "expired_time": fmt_time(order["expired_time"]),
                    "pay_type": 1 if paid else 0,
                    "pay_type_str": "WEIXIN" if paid else "",
                    "refund_state": int(order["refund_state"]),
                    "close_type": 1 if order["status"] == "TRADE_CLOSED" and not paid else 0,
                    "node_kdt_id": int(self.creds["youzan_kdt_id"]),
                    "root_kdt_id": int(self.creds["youzan_kdt_id"]),
                    "shop_name": "siyu 模拟旗舰店",
                    "order_tags": {"is_payed": bool(paid), "is_refund": bool(order["refund_state"])},
                    "order_extra": {"daogou": source_ref if order["source"] == "guide_share" else ""},
                },
                "source_info": {
                    "is_offline_order": False,
                    "order_mark": "weapp_youzan",
                    "source": {"platform": "wx", "wx_entrance": SOURCE_ENTRANCE[order["source"]]},
                    # Attribution as the brand's tracking writes it (simulator extension, decisions.md).
                    "source_channel": order["source"],
                    "source_ref": source_ref,
                },
                "buyer_info": {
                    "yz_open_id": order["yz_open_id"],
                    "buyer_phone": order["buyer_phone"],
                    "outer_user_id": order["outer_user_id"] if pd.notna(order["outer_user_id"]) else "",
                },
                "pay_info": {
                    "total_fee": yuan(order["total_fee_fen"]),
                    "post_fee": yuan(order["post_fee_fen"]),
                    "payment": yuan(order["payment_fen"]),
                    "transaction": [],
                    "outer_transactions": [],
                },
                "orders": lines,
                "refund_order": refund_order,
                "child_info": {"child_orders": []},
            }
        }

    def users_info_query(self, params: dict) -> dict:
        for key, column in (
            ("yz_open_id", "yz_open_id"),
            ("mobile", "mobile"),
            ("weixin_union_id", "union_id"),
            ("weixin_open_id", "weixin_open_id"),
        ):
            if params.get(key):
                records = self.state.shop_user_records
                match = [records[row] for row in self.state.shop_user_rows(column).get(params[key], [])]
                break
        else:
            raise YouzanError(101103, "yz_open_id, mobile, weixin_union_id, weixin_open_id 至少填一个", None)
        return {
            "user_list": [
                {
                    "primitive_info": {
                        "yz_open_id": u["yz_open_id"],
                        "nick_name": u["nick_name"],
                        "gender": int(u["gender"]),
                    },
                    "mobile_info": {"mobile": u["mobile"] if pd.notna(u["mobile"]) else ""},
                    "wechat_info": {"wechat_type": 2, "union_id": u["union_id"] if pd.notna(u["union_id"]) else ""},
                    "platform_info": {"weixin_open_id": u["weixin_open_id"] if pd.notna(u["weixin_open_id"]) else ""},
                }
                for u in match
            ]
        }
