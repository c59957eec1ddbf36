"""Hostile API answers: each case is one thing a real WeCom or Youzan endpoint (or what sits in front of
it) can send, with the outcome we promise — the pull completes with exactly the right rows, or it raises
a SourceError naming the call (endpoint and window or params, never a token or secret).

The cases run over real HTTP against the simulators (payload and transport faults targeted at one
endpoint); a local httpx MockTransport stands in only where the simulator cannot say it (an HTML page
with HTTP 200, an HTTP 429, a redirect, an errcode the API does not document, an envelope without its
fields)."""

from __future__ import annotations

import socket

import httpx
import pytest

from siyu.connectors import wecom as wecom_module
from siyu.connectors.http import SourceError
from siyu.connectors.wecom import DAY, WeComClient, WeComConfig
from siyu.connectors.youzan import YouzanClient, YouzanConfig

pytestmark = pytest.mark.integration

TRADES = "youzan.trades.sold.get"
ATTEMPTS = 4  # max_attempts in every budget test: small, so max_attempts² (16) is easy to tell apart


# ---- helpers ---------------------------------------------------------------------------------------
@pytest.fixture()
def faults(sim):
    """The simulators' fault plan, cleared again after the test whatever it targeted."""
    plan = sim.sims.faults
    plan.clear()
    yield plan
    plan.clear()


@pytest.fixture()
def fresh_wecom_tokens(monkeypatch):
    """No cached WeCom token, so request counts start with gettoken."""
    monkeypatch.setattr(wecom_module.TOKENS, "_tokens", {})


def wecom(sim, base_url: str | None = None, **overrides) -> WeComClient:
    creds = sim.credentials
    options = {"max_wait_seconds": 0.01, "timeout_seconds": 2.0, **overrides}
    return WeComClient(
        WeComConfig(
            base_url=base_url or sim.base_url, corp_id=creds["corp_id"], corp_secret=creds["corp_secret"], **options
        )
    )


def youzan(sim, base_url: str | None = None, **overrides) -> YouzanClient:
    creds = sim.credentials
    options = {"max_wait_seconds": 0.01, "timeout_seconds": 2.0, **overrides}
    return YouzanClient(
        YouzanConfig(
            base_url=base_url or sim.base_url,
            client_id=creds["youzan_client_id"],
            client_secret=creds["youzan_client_secret"],
            kdt_id=creds["youzan_kdt_id"],
            **options,
        )
    )


def record_requests(client) -> list[str]:
    """Every request the client sends (path only), in order, including ones that never connect."""
    sent: list[str] = []
    client.http.event_hooks = {"request": [lambda request: sent.append(request.url.path)], "response": []}
    return sent


def mock(client, handler) -> list[httpx.Request]:
    """Point the client at a local MockTransport; returns the requests it receives."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client.http = httpx.Client(base_url=client.config.base_url, transport=httpx.MockTransport(answer))
    return seen


def no_secrets(sim, message: str, *tokens: str) -> None:
    creds = sim.credentials
    for secret in (creds["corp_secret"], creds["youzan_client_secret"], *tokens):
        assert secret not in message, "errors never carry secrets or tokens"
    assert "access_token=" not in message


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def expected_orders(sim, start: int, end: int) -> list[str]:
    orders = sim.sims.state.orders_as_of()
    chosen = orders[(orders["update_time"] >= start) & (orders["update_time"] <= end)]
    return sorted(chosen["tid"])


def sixty_days(sim) -> tuple[int, int]:
    """A window of about 500 orders in the small world: five full pages and a short last one."""
    today = sim.sims.state.today_start
    return today - 60 * DAY, today - 1


def pulled_orders(client: YouzanClient, start: int, end: int) -> list[str]:
    return sorted(order["order_info"]["tid"] for order in client.orders_updated(start, end))


def live_pairs(sim) -> list[tuple[str, str]]:
    live = sim.sims.state.live_relations
    return sorted(zip(live["userid"], live["external_userid"], strict=True))


def pulled_pairs(client: WeComClient) -> list[tuple[str, str]]:
    return sorted(
        (item["follow_info"]["userid"], item["external_contact"]["external_userid"])
        for item in client.contacts_by_user(client.follow_users(), limit=10)
    )


# ---- Youzan: paging against total_results ------------------------------------------------------------
def test_youzan_page_short_once_mid_paging_is_read_again_and_every_order_lands(sim, faults):
    """GIVEN page 3 of 6 answers 97 of 100 rows once WHEN the window is pulled THEN the page is read
    again and exactly the window's orders land (the issue's 498 of 501)."""
    start, end = sixty_days(sim)
    expected = expected_orders(sim, start, end)
    assert len(expected) > 500
    faults.target(("short_page",), {TRADES}, start_after=2, limit=1)
    with youzan(sim) as client:
        assert pulled_orders(client, start, end) == expected
    assert faults.summary()["injected"] == {"short_page": 1}


def test_youzan_page_short_on_every_read_mid_paging_fails_naming_the_page(sim, faults):
    start, end = sixty_days(sim)
    faults.target(("short_page",), {TRADES}, start_after=2)
    with youzan(sim) as client, pytest.raises(SourceError, match=r"youzan\.trades\.sold\.get.*page_no=3") as raised:
        pulled_orders(client, start, end)
    assert "start_update=" in str(raised.value) and "97" in str(raised.value)
    no_secrets(sim, str(raised.value))


def test_youzan_last_page_short_of_total_results_fails(sim, faults):
    """The last page may be short, but only by what total_results says."""
    start, end = sixty_days(sim)
    last_page = -(-len(expected_orders(sim, start, end)) // 100)
    faults.target(("short_page",), {TRADES}, start_after=last_page - 1)
    with youzan(sim) as client, pytest.raises(SourceError, match=rf"youzan\.trades\.sold\.get.*page_no={last_page}"):
        pulled_orders(client, start, end)


def test_youzan_total_that_grows_between_pages_rereads_the_window_and_lands_the_new_orders(sim, faults):
    """GIVEN orders are created and updated while we page (the clock jumps three days after page 2)
    WHEN the window is pulled THEN it is read again and what lands equals the window at the new clock."""
    state = sim.sims.state
    end_ts = state.meta["end_ts"]
    state.set_clock(end_ts - 3 * DAY)
    start, end = end_ts - 60 * DAY, end_ts
    before = expected_orders(sim, start, end)
    with youzan(sim) as client:
        original, calls = client.call, []

        def call_then_time_passes(method, version, params):
            answer = original(method, version, params)
            calls.append(method)
            if method == TRADES and calls.count(TRADES) == 2:
                state.set_clock(end_ts - 1)
            return answer

        client.call = call_then_time_passes
        pulled = pulled_orders(client, start, end)
    after = expected_orders(sim, start, end)
    assert len(after) > len(before), "the jump created orders inside the window"
    assert pulled == after


def test_youzan_total_that_changes_on_every_read_fails_naming_the_window(sim, faults):
    state = sim.sims.state
    end_ts = state.meta["end_ts"]
    state.set_clock(end_ts - 40 * DAY)
    start, end = end_ts - 90 * DAY, end_ts
    with youzan(sim) as client:
        original = client.call

        def every_page_a_day_later(method, version, params):
            if method == TRADES:
                state.set_clock(min(state.now + DAY, end_ts - 1))
            return original(method, version, params)

        client.call = every_page_a_day_later
        with pytest.raises(SourceError, match=r"youzan\.trades\.sold\.get.*total_results") as raised:
            pulled_orders(client, start, end)
    assert "start_update=" in str(raised.value)


# ---- Youzan: shape ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "said"),
    [("missing_key", "no 'full_order_info_list'"), ("null_value", "null"), ("wrong_type", "object")],
)
def test_youzan_order_list_missing_null_or_of_the_wrong_type_fails_naming_the_key(sim, faults, kind, said):
    start, end = sixty_days(sim)
    faults.target((kind,), {TRADES})
    with (
        youzan(sim) as client,
        pytest.raises(SourceError, match=r"youzan\.trades\.sold\.get.*full_order_info_list") as raised,
    ):
        pulled_orders(client, start, end)
    assert said in str(raised.value)


def test_youzan_user_query_without_user_list_fails_naming_the_key(sim, faults):
    """The issue's bare KeyError: 'user_list'."""
    buyer = sim.sims.state.orders_as_of()["yz_open_id"].iloc[0]
    faults.target(("missing_key",), {"youzan.users.info.query"})
    with youzan(sim) as client, pytest.raises(SourceError, match=r"youzan\.users\.info\.query.*'user_list'"):
        client.user(yz_open_id=buyer)


def test_youzan_token_answer_without_access_token_fails_naming_the_key(sim, faults):
    faults.target(("missing_key",), {"auth/token"})
    with youzan(sim) as client, pytest.raises(SourceError, match=r"auth/token.*'access_token'") as raised:
        client.user(yz_open_id="x")
    no_secrets(sim, str(raised.value))


# ---- Youzan: retry budget ----------------------------------------------------------------------------
def test_youzan_502_storm_is_reported_after_max_attempts_requests(sim, faults):
    """Every request (token and call) answers 502: the call gives up after max_attempts requests in all."""
    start, end = sixty_days(sim)
    faults.target(("server_error",), None)
    with youzan(sim, max_attempts=ATTEMPTS) as client:
        sent = record_requests(client)
        with pytest.raises(SourceError, match=rf"youzan\.trades\.sold\.get.*after {ATTEMPTS} attempts"):
            pulled_orders(client, start, end)
    assert len(sent) == ATTEMPTS


def test_youzan_gateway_rate_limit_storm_is_reported_naming_the_window(sim, faults):
    start, end = sixty_days(sim)
    faults.target(("rate_limit",), {TRADES})
    with youzan(sim, max_attempts=ATTEMPTS) as client:
        sent = record_requests(client)
        with pytest.raises(SourceError, match=r"youzan\.trades\.sold\.get.*start_update=.*gateway 4101"):
            pulled_orders(client, start, end)
    assert sent.count(f"/api/{TRADES}/4.0.4") == ATTEMPTS and sent.count("/auth/token") == 1


def test_youzan_unreachable_host_is_reported_after_max_attempts_connections(sim):
    port = closed_port()
    with youzan(sim, base_url=f"http://127.0.0.1:{port}", max_attempts=ATTEMPTS) as client:
        sent = record_requests(client)
        with pytest.raises(SourceError, match=rf"127\.0\.0\.1:{port}") as raised:
            client.user(yz_open_id="x")
    assert len(sent) == ATTEMPTS, f"{len(sent)} connection attempts, expected max_attempts ({ATTEMPTS})"
    assert "youzan.users.info.query" in str(raised.value)
    no_secrets(sim, str(raised.value))


def test_youzan_envelope_without_total_results_fails_naming_the_key(sim):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(
                200, json={"code": 200, "success": True, "data": {"access_token": "t0k", "expires": 9e12}}
            )
        return httpx.Response(200, json={"code": 200, "success": True, "data": {"full_order_info_list": []}})

    with youzan(sim, base_url="http://youzan.test") as client:
        mock(client, answer)
        with pytest.raises(SourceError, match=r"youzan\.trades\.sold\.get.*'total_results'") as raised:
            pulled_orders(client, 0, 86_400)
    no_secrets(sim, str(raised.value), "t0k")


# ---- WeCom: cursor paging ----------------------------------------------------------------------------
def test_wecom_cursor_page_short_once_is_read_again_and_every_friendship_lands(sim, faults):
    faults.target(("short_page",), {"batch/get_by_user"}, start_after=3, limit=1)
    with wecom(sim) as client:
        assert pulled_pairs(client) == live_pairs(sim)
    assert faults.summary()["injected"] == {"short_page": 1}


def test_wecom_cursor_page_short_on_every_read_fails_naming_the_call(sim, faults):
    faults.target(("short_page",), {"batch/get_by_user"}, start_after=3)
    with wecom(sim) as client, pytest.raises(SourceError, match=r"batch/get_by_user.*cursor=.*7 rows") as raised:
        pulled_pairs(client)
    no_secrets(sim, str(raised.value))


def test_wecom_cursor_handed_back_once_is_read_again_without_duplicates(sim, faults):
    """GIVEN one page answers with the cursor it was given WHEN paging THEN no page is read twice."""
    faults.target(("repeat_cursor",), {"batch/get_by_user"}, start_after=2, limit=1)
    with wecom(sim) as client:
        assert pulled_pairs(client) == live_pairs(sim)


def test_wecom_cursor_loop_fails_naming_the_call(sim, faults):
    faults.target(("repeat_cursor",), {"batch/get_by_user"}, start_after=2)
    with (
        wecom(sim, request_budget=500) as client,
        pytest.raises(SourceError, match=r"batch/get_by_user.*cursor.*repeat"),
    ):
        pulled_pairs(client)


@pytest.mark.parametrize("kind", ["missing_key", "null_value", "wrong_type"])
def test_wecom_contact_list_missing_null_or_wrong_type_fails_naming_the_key(sim, faults, kind):
    faults.target((kind,), {"batch/get_by_user"})
    with wecom(sim) as client, pytest.raises(SourceError, match=r"batch/get_by_user.*'external_contact_list'"):
        pulled_pairs(client)


def test_wecom_follow_user_list_null_fails_naming_the_key(sim, faults):
    faults.target(("null_value",), {"get_follow_user_list"})
    with wecom(sim) as client, pytest.raises(SourceError, match=r"get_follow_user_list.*'follow_user'.*null"):
        client.follow_users()


def test_wecom_group_chat_as_a_list_fails_naming_the_key(sim, faults):
    chat_id = sim.sims.state.groups.index[0]
    faults.target(("wrong_type",), {"groupchat/get"})
    with wecom(sim) as client, pytest.raises(SourceError, match=rf"groupchat/get.*{chat_id}.*'group_chat'.*list"):
        client.group_chat(chat_id)


def test_wecom_behaviour_missing_days_fails_naming_the_window(sim, faults):
    """get_user_behavior_data answers one row per day of the window: three days short is an error."""
    today = sim.sims.state.today_start
    userid = sim.sims.state.active_userids()[0]
    faults.target(("short_page",), {"get_user_behavior_data"})
    with wecom(sim) as client, pytest.raises(SourceError, match=r"get_user_behavior_data.*start_time=.*27 rows"):
        list(client.user_behavior(userid, today - 40 * DAY, today - DAY))


def test_wecom_group_statistic_short_of_total_fails(sim, faults):
    today = sim.sims.state.today_start
    faults.target(("short_page",), {"groupchat/statistic"})
    with wecom(sim) as client:
        owners = client.follow_users()
        with pytest.raises(SourceError, match=r"groupchat/statistic.*offset=0.*total"):
            list(client.group_statistic(today - DAY, owners))


# ---- WeCom: tokens and the retry budget --------------------------------------------------------------
def test_wecom_unreachable_host_is_reported_after_max_attempts_connections(sim, fresh_wecom_tokens):
    port = closed_port()
    with wecom(sim, base_url=f"http://127.0.0.1:{port}", max_attempts=ATTEMPTS) as client:
        sent = record_requests(client)
        with pytest.raises(SourceError, match=rf"get_follow_user_list.*127\.0\.0\.1:{port}") as raised:
            client.follow_users()
    assert len(sent) == ATTEMPTS, f"{len(sent)} connection attempts, expected max_attempts ({ATTEMPTS})"
    no_secrets(sim, str(raised.value))


def test_wecom_token_endpoint_failing_counts_inside_the_calls_budget(sim, faults, fresh_wecom_tokens):
    faults.target(("server_error",), {"gettoken"})
    with wecom(sim, max_attempts=ATTEMPTS) as client:
        sent = record_requests(client)
        with pytest.raises(SourceError, match=rf"get_follow_user_list.*after {ATTEMPTS} attempts.*gettoken.*502"):
            client.follow_users()
    assert sent == ["/cgi-bin/gettoken"] * ATTEMPTS


def test_wecom_token_answer_without_access_token_fails_naming_the_key(sim, faults, fresh_wecom_tokens):
    faults.target(("missing_key",), {"gettoken"})
    with wecom(sim) as client, pytest.raises(SourceError, match=r"gettoken.*'access_token'") as raised:
        client.follow_users()
    no_secrets(sim, str(raised.value))


def test_wecom_token_invalidated_on_every_call_stops_at_max_attempts(sim, faults, fresh_wecom_tokens):
    """A token refresh is one more attempt of the same call, not a loop of its own."""
    faults.target(("token_invalidated",), {"get_follow_user_list"})
    with wecom(sim, max_attempts=ATTEMPTS) as client:
        sent = record_requests(client)
        with pytest.raises(SourceError, match=rf"get_follow_user_list.*after {ATTEMPTS} attempts.*40014"):
            client.follow_users()
    assert sent.count("/cgi-bin/externalcontact/get_follow_user_list") == ATTEMPTS
    assert sent.count("/cgi-bin/gettoken") == ATTEMPTS


def test_wecom_truncated_json_storm_is_reported_after_max_attempts(sim, faults):
    faults.target(("malformed_json",), {"batch/get_by_user"})
    with wecom(sim, max_attempts=ATTEMPTS) as client:
        users = client.follow_users()
        sent = record_requests(client)
        with pytest.raises(SourceError, match=rf"batch/get_by_user.*userid_list=.*after {ATTEMPTS} attempts.*JSON"):
            list(client.contacts_by_user(users))
    assert len(sent) == ATTEMPTS


# ---- WeCom: what the simulator cannot say (MockTransport) ------------------------------------------------
def wecom_mock(sim, answer_call, **overrides):
    """A WeCom client on a MockTransport whose gettoken works and whose API calls answer `answer_call`."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/gettoken":
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "access_token": "t0k", "expires_in": 7200})
        return answer_call(request)

    client = wecom(sim, base_url="http://wecom.test", max_attempts=ATTEMPTS, **overrides)
    return client, mock(client, answer)


def api_requests(seen: list[httpx.Request]) -> list[httpx.Request]:
    return [r for r in seen if r.url.path != "/cgi-bin/gettoken"]


def test_wecom_errcode_the_api_does_not_document_fails_at_once(sim, fresh_wecom_tokens):
    client, seen = wecom_mock(sim, lambda r: httpx.Response(200, json={"errcode": 99991, "errmsg": "who knows"}))
    with client, pytest.raises(SourceError, match=r"get_follow_user_list.*errcode 99991"):
        client.follow_users()
    assert len(api_requests(seen)) == 1, "an unknown errcode is not retried"


def test_wecom_html_page_with_http_200_is_retried_then_reported(sim, fresh_wecom_tokens):
    page = "<html><body>portal login</body></html>"
    client, seen = wecom_mock(sim, lambda r: httpx.Response(200, text=page, headers={"content-type": "text/html"}))
    with (
        client,
        pytest.raises(SourceError, match=rf"get_follow_user_list.*after {ATTEMPTS} attempts.*text/html") as raised,
    ):
        client.follow_users()
    assert len(api_requests(seen)) == ATTEMPTS
    no_secrets(sim, str(raised.value), "t0k")


def test_wecom_http_429_storm_is_retried_then_reported(sim, fresh_wecom_tokens):
    client, seen = wecom_mock(sim, lambda r: httpx.Response(429, text="Too Many Requests"))
    with client, pytest.raises(SourceError, match=rf"get_follow_user_list.*after {ATTEMPTS} attempts.*HTTP 429"):
        client.follow_users()
    assert len(api_requests(seen)) == ATTEMPTS


def test_wecom_redirect_is_reported_at_once_without_the_token(sim, fresh_wecom_tokens):
    """Plain http:// answers 301 to https (contract §0): a configuration error, not a fault."""

    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"location": str(request.url.copy_with(scheme="https"))})

    client, seen = wecom_mock(sim, redirect)
    with client, pytest.raises(SourceError, match=r"get_follow_user_list.*HTTP 301.*https") as raised:
        client.follow_users()
    assert len(api_requests(seen)) == 1
    no_secrets(sim, str(raised.value), "t0k")


def test_wecom_answer_without_errcode_or_list_fails_naming_the_key(sim, fresh_wecom_tokens):
    client, _seen = wecom_mock(sim, lambda r: httpx.Response(200, json={"errmsg": "ok"}))
    with client, pytest.raises(SourceError, match=r"get_follow_user_list.*'errcode'"):
        client.follow_users()
