"""The WeCom simulator answers with the documented field names and nesting, and enforces the documented
limits with the documented errcodes (../shared/contracts/wecom_youzan_api.md)."""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = pytest.mark.integration
EC = "/cgi-bin/externalcontact"


def post(client, token, endpoint, body):
    return client.post(f"{EC}/{endpoint}", params={"access_token": token}, json=body).json()


def test_gettoken_contract(sim, client):
    creds = sim.credentials
    answer = client.get("/cgi-bin/gettoken", params={"corpid": creds["corp_id"], "corpsecret": creds["corp_secret"]})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"errcode", "errmsg", "access_token", "expires_in"}
    assert body["errcode"] == 0 and body["errmsg"] == "ok" and body["expires_in"] <= 7200
    again = client.get("/cgi-bin/gettoken", params={"corpid": creds["corp_id"], "corpsecret": creds["corp_secret"]})
    assert again.json()["access_token"] == body["access_token"], "same token while it is valid"
    assert client.get("/cgi-bin/gettoken", params={"corpid": creds["corp_id"]}).json()["errcode"] == 41004
    assert client.get("/cgi-bin/gettoken", params={"corpid": "wrong", "corpsecret": "x"}).json()["errcode"] == 40013
    assert (
        client.get("/cgi-bin/gettoken", params={"corpid": creds["corp_id"], "corpsecret": "wrong"}).json()["errcode"]
        == 40001
    )


def test_token_only_in_query_string_and_checked_first(client, wecom_token):
    in_body = client.post(f"{EC}/batch/get_by_user", json={"access_token": wecom_token, "userid_list": ["a"]})
    assert in_body.status_code == 200
    assert in_body.json()["errcode"] == 41001
    assert in_body.json()["external_contact_list"] == [], "errors keep the endpoint's empty fields"
    bad = client.post(f"{EC}/batch/get_by_user", params={"access_token": "nope"}, content=b"not json")
    assert bad.json()["errcode"] == 40014, "token before body validation"


def test_expired_token_gives_42001(client, wecom_token):
    client.post("/_sim/tokens/expire")
    answer = client.get(f"{EC}/get_follow_user_list", params={"access_token": wecom_token}).json()
    assert answer == {**answer, "errcode": 42001, "follow_user": []}


def test_unknown_path_is_an_empty_404(client):
    answer = client.get("/cgi-bin/externalcontact/no_such_api")
    assert answer.status_code == 404 and answer.content == b""


def test_follow_users_and_their_customers(sim, client, wecom_token):
    users = client.get(f"{EC}/get_follow_user_list", params={"access_token": wecom_token}).json()
    assert users["errcode"] == 0 and users["follow_user"]
    staff = sim.sims.state.staff
    resigned = set(staff.index[staff["resigned_at"].notna()])
    assert resigned and not resigned & set(users["follow_user"]), "resigned guides are not listed"
    listed = client.get(f"{EC}/list", params={"access_token": wecom_token, "userid": users["follow_user"][0]}).json()
    assert set(listed) == {"errcode", "errmsg", "external_userid"} and listed["external_userid"]
    detail = client.get(
        f"{EC}/get", params={"access_token": wecom_token, "external_userid": listed["external_userid"][0]}
    ).json()
    assert set(detail) >= {"errcode", "errmsg", "external_contact", "follow_user"}
    assert set(detail["external_contact"]) >= {"external_userid", "name", "type", "gender", "avatar"}
    follow = detail["follow_user"][0]
    assert set(follow) >= {
        "userid",
        "remark",
        "description",
        "createtime",
        "tags",
        "remark_mobiles",
        "oper_userid",
        "add_way",
    }
    for tag in follow["tags"]:
        assert set(tag) == {"group_name", "tag_name", "tag_id", "type"}
    missing = client.get(f"{EC}/get", params={"access_token": wecom_token, "external_userid": "wmNOPE"}).json()
    assert missing["errcode"] == 40096


def test_batch_get_by_user_pages_every_relation_exactly_once(sim, client, wecom_token):
    users = client.get(f"{EC}/get_follow_user_list", params={"access_token": wecom_token}).json()["follow_user"]
    seen, cursor, pages = [], "", 0
    while True:
        answer = post(client, wecom_token, "batch/get_by_user", {"userid_list": users, "cursor": cursor, "limit": 100})
        assert answer["errcode"] == 0
        assert len(answer["external_contact_list"]) <= 100
        for item in answer["external_contact_list"]:
            assert set(item) == {"external_contact", "follow_info"}
            assert isinstance(item["follow_info"], dict), "follow_info is one object, not a list"
            seen.append((item["follow_info"]["userid"], item["external_contact"]["external_userid"]))
        pages += 1
        cursor = answer["next_cursor"]
        if not cursor:
            break
    live = sim.sims.state.live_relations
    assert pages > 1
    assert len(seen) == len(set(seen)) == len(live)


def test_batch_get_by_user_limits(client, wecom_token):
    too_many = post(client, wecom_token, "batch/get_by_user", {"userid_list": [f"u{i}" for i in range(101)]})
    assert too_many["errcode"] == 40058
    users = client.get(f"{EC}/get_follow_user_list", params={"access_token": wecom_token}).json()["follow_user"]
    capped = post(client, wecom_token, "batch/get_by_user", {"userid_list": users, "limit": 500})
    assert len(capped["external_contact_list"]) == 100, "limit over the maximum is taken as the maximum"
    default = post(client, wecom_token, "batch/get_by_user", {"userid_list": users})
    assert len(default["external_contact_list"]) == 50
    wrong_method = client.get(f"{EC}/batch/get_by_user", params={"access_token": wecom_token})
    assert wrong_method.json()["errcode"] == 40058


def test_corp_tags_and_mark_tag_change_the_world(sim, client, wecom_token):
    tags = post(client, wecom_token, "get_corp_tag_list", {})
    group = tags["tag_group"][0]
    assert set(group) >= {"group_id", "group_name", "create_time", "order", "tag"}
    assert set(group["tag"][0]) >= {"id", "name", "create_time", "order"}
    tag_id = group["tag"][-1]["id"]
    users = client.get(f"{EC}/get_follow_user_list", params={"access_token": wecom_token}).json()["follow_user"]
    customer = client.get(f"{EC}/list", params={"access_token": wecom_token, "userid": users[0]}).json()[
        "external_userid"
    ][0]
    marked = post(
        client, wecom_token, "mark_tag", {"userid": users[0], "external_userid": customer, "add_tag": [tag_id]}
    )
    assert marked == {"errcode": 0, "errmsg": "ok"}
    detail = client.get(f"{EC}/get", params={"access_token": wecom_token, "external_userid": customer}).json()
    mine = next(f for f in detail["follow_user"] if f["userid"] == users[0])
    assert tag_id in {t["tag_id"] for t in mine["tags"]}
    removed = post(
        client, wecom_token, "mark_tag", {"userid": users[0], "external_userid": customer, "remove_tag": [tag_id]}
    )
    assert removed["errcode"] == 0
    assert tag_id not in sim.sims.state.relation_tags[(users[0], customer)]
    assert (
        post(client, wecom_token, "mark_tag", {"userid": users[0], "external_userid": "wmNOPE", "add_tag": [tag_id]})[
            "errcode"
        ]
        == 84061
    )
    assert (
        post(client, wecom_token, "mark_tag", {"userid": users[0], "external_userid": customer, "add_tag": ["etNOPE"]})[
            "errcode"
        ]
        == 40068
    )


def test_groupchat_list_and_get(sim, client, wecom_token):
    assert post(client, wecom_token, "groupchat/list", {})["errcode"] == 40058, "limit is required"
    assert post(client, wecom_token, "groupchat/list", {"limit": 1001})["errcode"] == 40058
    assert post(client, wecom_token, "groupchat/list", {"limit": 0})["errcode"] == 40058
    chats, cursor = [], ""
    while True:
        answer = post(client, wecom_token, "groupchat/list", {"limit": 7, "cursor": cursor})
        chats += answer["group_chat_list"]
        cursor = answer["next_cursor"]
        if not cursor:
            break
    assert len(chats) == len(sim.sims.state.groups) and {c["status"] for c in chats} <= {0, 1, 2, 3}
    assert 3 in {c["status"] for c in chats}, "groups of resigned guides were inherited"
    detail = post(client, wecom_token, "groupchat/get", {"chat_id": chats[0]["chat_id"], "need_name": 1})
    chat = detail["group_chat"]
    assert set(chat) >= {
        "chat_id",
        "name",
        "owner",
        "create_time",
        "notice",
        "member_list",
        "admin_list",
        "member_version",
    }
    kinds = {m["type"] for m in chat["member_list"]}
    assert kinds == {1, 2}
    for member in chat["member_list"]:
        assert set(member) >= {"userid", "type", "join_time", "join_scene", "name"}
    assert post(client, wecom_token, "groupchat/get", {"chat_id": "wrNOPE"})["errcode"] != 0


def test_statistics_windows_are_enforced(sim, client, wecom_token):
    today = sim.sims.state.today_start
    day = 86_400
    users = client.get(f"{EC}/get_follow_user_list", params={"access_token": wecom_token}).json()["follow_user"]
    good = post(
        client,
        wecom_token,
        "get_user_behavior_data",
        {"userid": users[:3], "start_time": today - 30 * day, "end_time": today - day},
    )
    assert good["errcode"] == 0 and len(good["behavior_data"]) == 30
    assert set(good["behavior_data"][0]) >= {
        "stat_time",
        "chat_cnt",
        "message_cnt",
        "negative_feedback_cnt",
        "new_apply_cnt",
        "new_contact_cnt",
    }
    too_long = post(
        client,
        wecom_token,
        "get_user_behavior_data",
        {"userid": users[:3], "start_time": today - 40 * day, "end_time": today - day},
    )
    assert too_long["errcode"] == 40058
    too_old = post(
        client,
        wecom_token,
        "get_user_behavior_data",
        {"userid": users[:3], "start_time": today - 200 * day, "end_time": today - 190 * day},
    )
    assert too_old["errcode"] == 40058
    assert post(client, wecom_token, "get_user_behavior_data", {"start_time": today - day})["errcode"] == 40058
    by_owner = post(
        client,
        wecom_token,
        "groupchat/statistic",
        {"day_begin_time": today - 2 * day, "day_end_time": today - 2 * day, "limit": 1000},
    )
    assert by_owner["errcode"] == 0 and by_owner["next_offset"] == by_owner["total"]
    item = by_owner["items"][0]
    assert set(item) == {"owner", "data"} and set(item["data"]) == {
        "new_chat_cnt",
        "chat_total",
        "chat_has_msg",
        "new_member_cnt",
        "member_total",
        "member_has_msg",
        "msg_total",
        "migrate_trainee_chat_cnt",
    }
    # One day by owner equals the world's daily statistics.
    stats = sim.sims.state.group_statistic
    expected = stats[stats["stat_time"] == today - 2 * day].set_index("owner")["msg_total"]
    assert {i["owner"]: i["data"]["msg_total"] for i in by_owner["items"]} == expected.to_dict()
    by_day = post(
        client,
        wecom_token,
        "groupchat/statistic_group_by_day",
        {"day_begin_time": today - 3 * day, "day_end_time": today - day},
    )
    assert [i["stat_time"] for i in by_day["items"]] == [today - 3 * day, today - 2 * day, today - day]
    assert (
        post(
            client,
            wecom_token,
            "groupchat/statistic",
            {"day_begin_time": today - 45 * day, "day_end_time": today - day},
        )["errcode"]
        == 40058
    )


def test_contact_ways_and_inheritance(sim, client, wecom_token):
    start = sim.sims.state.meta["start_ts"] - 90 * 86_400
    ways = post(client, wecom_token, "list_contact_way", {"start_time": start, "limit": 1000})
    assert ways["errcode"] == 0 and ways["contact_way"]
    assert post(client, wecom_token, "list_contact_way", {"limit": 1001})["errcode"] == 40058
    way = post(client, wecom_token, "get_contact_way", {"config_id": ways["contact_way"][0]["config_id"]})
    assert set(way["contact_way"]) >= {
        "config_id",
        "type",
        "scene",
        "remark",
        "skip_verify",
        "state",
        "qr_code",
        "user",
    }
    assert len(way["contact_way"]["state"]) <= 30
    unassigned = post(client, wecom_token, "get_unassigned_list", {"page_size": 1000})
    assert set(unassigned) >= {"info", "is_last", "next_cursor"}
    for row in unassigned["info"]:
        assert set(row) == {"handover_userid", "external_userid", "dimission_time"}
    transfers = sim.sims.state.transfers
    done = transfers[transfers["status"] == 1].iloc[0]
    result = post(
        client,
        wecom_token,
        "resigned/transfer_result",
        {"handover_userid": done["handover_userid"], "takeover_userid": done["takeover_userid"]},
    )
    statuses = {c["external_userid"]: c["status"] for c in result["customer"]}
    assert statuses[done["external_userid"]] == 1
    assert all(set(c) == {"external_userid", "status", "takeover_time"} for c in result["customer"])


def test_clock_moves_what_the_api_sees(sim, client, wecom_token):
    users = client.get(f"{EC}/get_follow_user_list", params={"access_token": wecom_token}).json()["follow_user"]
    at_end = len(
        client.get(f"{EC}/list", params={"access_token": wecom_token, "userid": users[0]}).json()["external_userid"]
    )
    client.post("/_sim/clock", json={"now": sim.sims.state.meta["start_ts"] + 30 * 86_400})
    early = client.get(f"{EC}/list", params={"access_token": wecom_token, "userid": users[0]}).json()["external_userid"]
    assert len(early) < at_end
    relations = pd.read_parquet(sim.sims.state.root / "wecom/follow_relations.parquet")
    added = relations[relations["external_userid"].isin(early) & (relations["userid"] == users[0])]
    assert (added["createtime"] <= sim.sims.state.now).all()
