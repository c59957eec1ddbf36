"""The Youzan-style simulator: envelope, token, order search limits, status as of the clock."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration
TRADES = "/api/youzan.trades.sold.get/4.0.4"


def search(client, token, **params):
    return client.post(TRADES, params={"access_token": token}, json=params).json()


def test_token_envelope(sim, client):
    creds = sim.credentials
    body = {
        "client_id": creds["youzan_client_id"],
        "client_secret": creds["youzan_client_secret"],
        "authorize_type": "silent",
        "grant_id": creds["youzan_kdt_id"],
    }
    answer = client.post("/auth/token", json=body).json()
    assert set(answer) == {"trace_id", "code", "success", "message", "data"}
    assert answer["success"] is True and answer["code"] == 200
    assert set(answer["data"]) == {"access_token", "expires", "scope", "authority_id"}
    assert answer["data"]["expires"] > 10**12, "expires is epoch milliseconds"
    wrong = client.post("/auth/token", json={**body, "client_secret": "no"}).json()
    assert wrong["success"] is False and wrong["code"] != 200


def test_bad_token_is_a_business_error_with_http_200(client):
    answer = client.post(TRADES, params={"access_token": "nope"}, json={})
    assert answer.status_code == 200
    assert answer.json()["code"] == 4201 and answer.json()["success"] is False


def test_order_search_fields_and_paging(sim, client, youzan_token):
    window = {"start_update": "2025-06-01 00:00:00", "end_update": "2025-06-15 00:00:00"}
    first = search(client, youzan_token, **window, page_no=1, page_size=100)
    assert first["success"] and first["data"]["total_results"] > 100
    order = first["data"]["full_order_info_list"][0]["full_order_info"]
    assert set(order) >= {"order_info", "source_info", "buyer_info", "pay_info", "orders"}
    assert set(order["order_info"]) >= {"tid", "status", "created", "update_time", "pay_time", "refund_state"}
    assert set(order["buyer_info"]) >= {"yz_open_id", "buyer_phone", "outer_user_id"}
    assert set(order["pay_info"]) >= {"total_fee", "post_fee", "payment"}
    assert isinstance(order["pay_info"]["payment"], str) and "." in order["pay_info"]["payment"], (
        "money in yuan strings"
    )
    line = order["orders"][0]
    assert set(line) >= {"oid", "title", "num", "price", "total_fee", "payment", "item_id", "sku_id", "outer_sku_id"}
    total = first["data"]["total_results"]
    tids = []
    for page_no in range(1, total // 100 + 2):
        page = search(client, youzan_token, **window, page_no=page_no, page_size=100)
        tids += [o["full_order_info"]["order_info"]["tid"] for o in page["data"]["full_order_info_list"]]
    assert len(tids) == len(set(tids)) == total
    updates = [o["full_order_info"]["order_info"]["update_time"] for o in first["data"]["full_order_info_list"]]
    assert updates == sorted(updates), "sorted by update time when the update pair is given"


def test_order_search_limits(client, youzan_token):
    assert search(client, youzan_token, page_size=101)["success"] is False
    assert search(client, youzan_token, page_no=101)["success"] is False
    too_long = search(client, youzan_token, start_created="2024-01-01 00:00:00", end_created="2025-06-01 00:00:00")
    assert too_long["code"] == 106000001 and too_long["data"] == {"full_order_info_list": []}
    bad_format = search(client, youzan_token, start_created="2025/01/01", end_created="2025-02-01 00:00:00")
    assert bad_format["success"] is False


def test_status_follows_the_clock(sim, client, youzan_token):
    orders = sim.sims.state.orders
    order = orders[orders["success_time"].notna()].iloc[0]
    during = int(order["pay_time"]) + 1
    client.post("/_sim/clock", json={"now": during})
    early = search(client, youzan_token, tid=order["tid"])["data"]["full_order_info_list"][0]["full_order_info"]
    assert early["order_info"]["status"] == "WAIT_SELLER_SEND_GOODS"
    client.post("/_sim/clock", json={"now": int(order["success_time"]) + 1})
    late = search(client, youzan_token, tid=order["tid"])["data"]["full_order_info_list"][0]["full_order_info"]
    assert late["order_info"]["status"] in {"TRADE_SUCCESS", "TRADE_CLOSED"}
    assert late["order_info"]["update_time"] > early["order_info"]["update_time"]


def test_users_info_query(sim, client, youzan_token):
    users = sim.sims.state.shop_users
    user = users[users["union_id"].notna()].iloc[0]
    for key, value in (("yz_open_id", user["yz_open_id"]), ("weixin_union_id", user["union_id"])):
        answer = client.post(
            "/api/youzan.users.info.query/1.0.1", params={"access_token": youzan_token}, json={key: value}
        ).json()
        found = answer["data"]["user_list"][0]
        assert found["primitive_info"]["yz_open_id"] == user["yz_open_id"]
        assert set(found) >= {"primitive_info", "mobile_info", "wechat_info", "platform_info"}
