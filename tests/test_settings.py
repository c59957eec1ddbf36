"""A brand's settings (issue 15, "Settings in one place"): the time zone, the RFM window and the CLV horizon,
set the way a brand sets them (SIYU_TIMEZONE, a SIYU_CONFIG file, a run's own vars), change what dbt builds
as expected, and no setting fails the build or skips what follows.

Each test rebuilds a narrow selection on a copy of the small world's warehouse (built with the defaults:
Asia/Shanghai, a 365-day RFM window, a 365-day CLV horizon; and the world's counter phones listed in
identity_shared_phones) and compares with the original."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pytest
import yaml

from siyu.transform import PROJECT_DIR, dbt_build

pytestmark = pytest.mark.integration

# Non-default values of every setting a dbt unit test could depend on.
BRAND_SETTINGS = {
    "timezone": "America/New_York",
    "sources": ["store"],
    "snapshot_date": "2025-12-15",
    "segments_history_days": 10,
    # All history (null), distinct purchase days, and 0-yuan receipts counted: the other definitions a brand
    # can align RFM with (issue 16).
    "rfm_window_days": None,
    "rfm_frequency": "purchase_days",
    "purchase_zero_amount": True,
    "lifecycle_intro_days": 14,
    "lifecycle_dormant_days": 60,
    "lifecycle_churn_days": 120,
    "lifecycle_maturity_orders": 4,
    "rule33_channels": 2,
    "rule33_weeks": 2,
    "rule33_window_weeks": 8,
    "persona_discount_share": 0.5,
    "persona_sharer_referrals": 3,
    "persona_deep_fan_active_days": 20,
    "blocked_phones": ["13800000000"],
    "identity_link_limits": {
        "phone": 2,
        "unionid": 3,
        "openid": 2,
        "external_userid": 3,
        "yz_open_id": 3,
        "member_card": 2,
    },
    # A member's own phone in the identity unit tests (receipts R5, R6): listed as a counter phone, it would
    # be excluded, so a unit test that does not pin its own list fails here.
    "identity_shared_phones": ["13711112222"],
    "identity_phone_typo_links": False,
    "community_grades": [{"grade": "S", "activity": 0.5, "conversion": 0.5}],
    "triangle_targets": {"ownership": 0.5, "value": 100.0, "referral": 0.1},
    "triangle_insight_min_tags": 3,
    "frequency_cap_window_days": 7,
    "frequency_cap_per_window": 1,
    "vip_top_share": 0.1,
    "clv_horizon_days": 30,
    "clv_holdout_days": 91,
}


def _lake(world_warehouse: Path) -> Path:
    return world_warehouse.parents[1] / "lake"


def _query(warehouse: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql, params or []).df()


def _assert_built(result) -> None:
    assert result.success, result.failures
    assert "skipped" not in result.results, result.results


def _morning_message(lake: Path) -> tuple[str, int]:
    """A message sent on a Beijing morning: in New York it was still the day before."""
    with duckdb.connect() as connection:
        messages = connection.execute(
            "select msgid, msgtime from read_parquet(?) order by msgid",
            [str(lake / "raw" / "store" / "messages" / "dt=*" / "part-0.parquet")],
        ).fetchall()
    for message_id, msgtime in messages:
        if datetime.fromtimestamp(msgtime // 1000, ZoneInfo("Asia/Shanghai")).hour < 9:
            return message_id, msgtime
    raise AssertionError("the small world has no message sent before 9:00 Beijing time")


def test__time_zone__message_times_and_business_days_are_local_to_the_brand(
    world_warehouse, warehouse_copy, monkeypatch
):
    # GIVEN a message sent on a Beijing morning, and a brand whose time zone is New York
    lake = _lake(world_warehouse)
    message_id, msgtime = _morning_message(lake)
    sent = datetime.fromtimestamp(msgtime // 1000, UTC)
    monkeypatch.setenv("SIYU_TIMEZONE", "America/New_York")

    # WHEN the messages and the audiences are rebuilt
    _assert_built(dbt_build(lake, warehouse_copy, select="stg_wecom__messages audience_assignments"))

    # THEN the message's local time is its UTC instant in New York, a day earlier than in Beijing
    sql = "select sent_at from staging.stg_wecom__messages where message_id = ?"
    in_beijing = _query(world_warehouse, sql, [message_id])["sent_at"].item()
    in_new_york = _query(warehouse_copy, sql, [message_id])["sent_at"].item()
    assert in_beijing == sent.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    assert in_new_york == sent.astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)
    assert in_new_york.date() == in_beijing.date() - timedelta(days=1)
    # AND the audiences' computed_at (dbt's run start, UTC) is New York time too
    computed_at = _query(warehouse_copy, "select max(computed_at) as at from audiences.audience_assignments")["at"]
    now_in_new_york = datetime.now(ZoneInfo("America/New_York")).replace(tzinfo=None)
    assert abs(now_in_new_york - computed_at.item()) < timedelta(minutes=30)


def _independent_rfm(orders: pd.DataFrame, snapshot: pd.Timestamp, window_days: int) -> pd.DataFrame:
    """Frequency and monetary by the definition (domain.md §3), in pandas: paid purchases with something
    left after refunds, paid in the window_days up to and including the snapshot date."""
    purchases = orders[orders["is_paid"] & (orders["net_amount"] > 0) & orders["customer_id"].notna()]
    paid_on = purchases["paid_at"].dt.normalize()
    in_window = purchases[(paid_on > snapshot - pd.Timedelta(days=window_days)) & (paid_on <= snapshot)]
    return in_window.groupby("customer_id").agg(frequency=("order_id", "size"), monetary=("net_amount", "sum"))


def test__rfm_window__frequency_and_monetary_count_the_configured_window(
    world_warehouse, warehouse_copy, monkeypatch, tmp_path
):
    # GIVEN a brand whose settings file sets a 90-day RFM window (the world's warehouse has the default 365)
    settings_file = tmp_path / "siyu.yml"
    settings_file.write_text("vars:\n  rfm_window_days: 90\n", encoding="utf-8")
    monkeypatch.setenv("SIYU_CONFIG", str(settings_file))

    # WHEN the segments are rebuilt (their unit tests included: on the old code one assumed the default
    # window, failed, and skipped the segments)
    _assert_built(dbt_build(_lake(world_warehouse), warehouse_copy, select="customer_segments_daily customer_rfm"))

    # THEN each window's frequency and monetary equal an independent computation from the orders
    orders = _query(world_warehouse, "select order_id, customer_id, paid_at, is_paid, net_amount from marts.fct_orders")
    orders["net_amount"] = orders["net_amount"].astype(float)
    purchases = orders[orders["is_paid"] & (orders["net_amount"] > 0) & orders["customer_id"].notna()]
    snapshot = purchases["paid_at"].max().normalize()
    frequency = {}
    for window_days, warehouse in [(365, world_warehouse), (90, warehouse_copy)]:
        rfm = _query(warehouse, "select snapshot_date, customer_id, frequency, monetary from marts.customer_rfm")
        assert (pd.to_datetime(rfm["snapshot_date"]) == snapshot).all()
        rfm = rfm.set_index("customer_id")
        expected = _independent_rfm(orders, snapshot, window_days)
        assert expected.index.isin(rfm.index).all()
        expected = expected.reindex(rfm.index, fill_value=0)
        assert (rfm["frequency"] == expected["frequency"]).all(), window_days
        assert rfm["monetary"].astype(float).round(2).equals(expected["monetary"].astype(float).round(2)), window_days
        frequency[window_days] = rfm["frequency"].sort_index()
    # AND the shorter window counts fewer purchases for some customers, never more
    assert frequency[90].index.equals(frequency[365].index)
    assert (frequency[90] <= frequency[365]).all()
    assert (frequency[90] < frequency[365]).sum() > 10


def test__clv_horizon__a_longer_horizon_predicts_more_purchases(world_warehouse, warehouse_copy):
    # GIVEN the world's warehouse, whose customer_clv predicts over the default 365 days
    # WHEN customer_clv is rebuilt with a run's own 30-day horizon
    _assert_built(
        dbt_build(_lake(world_warehouse), warehouse_copy, dbt_vars={"clv_horizon_days": 30}, select="customer_clv")
    )

    # THEN the horizon reached the model, and every buyer is expected to buy less in 30 days than in a year
    sql = "select customer_id, horizon_days, expected_purchases from marts.customer_clv"
    year = _query(world_warehouse, sql).set_index("customer_id")
    month = _query(warehouse_copy, sql).set_index("customer_id")
    assert len(year) > 50 and month.index.sort_values().equals(year.index.sort_values())
    assert (year["horizon_days"] == 365).all() and (month["horizon_days"] == 30).all()
    month = month.reindex(year.index)
    assert (month["expected_purchases"] <= year["expected_purchases"]).all()
    assert (month["expected_purchases"] < year["expected_purchases"]).mean() > 0.99
    assert month["expected_purchases"].sum() < 0.5 * year["expected_purchases"].sum()


def _unit_tests() -> dict[str, str]:
    """Every dbt unit test of the project, with the model it tests."""
    tests = {}
    for path in (PROJECT_DIR / "models").rglob("*.yml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        tests |= {test["name"]: test["model"] for test in document.get("unit_tests") or []}
    return tests


def test__brand_settings__no_setting_fails_a_dbt_unit_test(world_warehouse, warehouse_copy):
    # GIVEN a brand that changes every setting a unit test could depend on
    unit_tests = _unit_tests()
    assert len(unit_tests) >= 20

    # WHEN the models with unit tests are built under those settings (dbt build runs a unit test only
    # with its model)
    result = dbt_build(
        _lake(world_warehouse),
        warehouse_copy,
        dbt_vars=BRAND_SETTINGS,
        select=" ".join(sorted(set(unit_tests.values()))),
    )

    # THEN every unit test passes (each sets the vars its expected rows depend on), and nothing is skipped
    _assert_built(result)
    assert result.results.get("pass", 0) >= len(unit_tests), result.results


def test__time_zones__dbt_project_defaults_are_siyu_configs():
    # GIVEN the brand's default zone and the sources' own zones, defined in siyu.config
    from siyu.config import DEFAULT_TIMEZONE, SOURCE_TIMEZONES

    # WHEN a plain `dbt build` (no vars from siyu) reads dbt_project.yml's defaults
    defaults = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]

    # THEN they are the same zones
    assert defaults["timezone"] == DEFAULT_TIMEZONE
    assert defaults["source_timezones"] == SOURCE_TIMEZONES


ZONE_LITERAL = re.compile(r"""['"](?:Africa|America|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)/\w+['"]""")


def test__time_zones__no_zone_literal_outside_siyu_config():
    # GIVEN the product's Python and the dbt models and macros (dbt unit tests pin the zone they expect)
    files = [*(PROJECT_DIR.parent / "plugins" / "siyu").rglob("*.py"), *(PROJECT_DIR.parent / "dags").glob("*.py")]
    files += [*(PROJECT_DIR / "models").rglob("*.sql"), *(PROJECT_DIR / "models").rglob("*.py")]
    files += [*(PROJECT_DIR / "macros").rglob("*.sql")]

    # WHEN they are searched for a quoted IANA zone name
    found = {
        str(path.relative_to(PROJECT_DIR.parent)): ZONE_LITERAL.findall(path.read_text(encoding="utf-8"))
        for path in files
        if path.name != "config.py" or path.parent.name != "siyu"
    }

    # THEN only siyu/config.py names one: the brand's default and the sources' zones are defined once
    assert {path: zones for path, zones in found.items() if zones} == {}
