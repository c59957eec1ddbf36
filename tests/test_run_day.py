"""Which business day a run ingests, for every way Airflow 3 starts a run (siyu.ingest.run_day), and the
brand's sources deciding which DAGs are scheduled and what the transform waits for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from siyu.config import ConfigError, load_settings
from siyu.ingest.run_day import RunDay, RunDayError, business_day

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
DAGS = Path(__file__).resolve().parents[1] / "dags"


def at(text: str, tz=UTC) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def test_a_scheduled_daily_interval_ingests_the_day_it_covers_in_the_brand_zone():
    # [2025-12-30 00:00, 2025-12-31 00:00) China time, as Airflow hands it over: in UTC.
    start, end = at("2025-12-29T16:00:00"), at("2025-12-30T16:00:00")
    assert business_day(tz=SHANGHAI, interval_start=start, interval_end=end) == date(2025, 12, 30)


def test_a_zero_length_interval_ingests_the_day_that_just_ended():
    # A trigger timetable or a manual run with a logical date: 2026-01-01 00:00:05 China time.
    moment = at("2025-12-31T16:00:05")
    assert business_day(tz=SHANGHAI, interval_start=moment, interval_end=moment) == date(2025, 12, 31)


def test_a_run_triggered_without_a_logical_date_ingests_the_day_before_it_was_asked_for():
    # run_after 2026-12-01 01:30 China time = 2026-11-30 17:30 UTC: the China day before is 11-30.
    assert business_day(tz=SHANGHAI, run_after=at("2026-11-30T17:30:00")) == date(2026, 11, 30)
    # The same moment for a brand on UTC: its day before is 11-29.
    assert business_day(tz=UTC, run_after=at("2026-11-30T17:30:00")) == date(2026, 11, 29)


def test_an_explicit_day_wins_over_every_date_the_run_carries():
    moment = at("2025-12-31T16:00:05")
    assert business_day(tz=SHANGHAI, explicit="1998-07-01", interval_start=moment, interval_end=moment) == date(
        1998, 7, 1
    )
    with pytest.raises(RunDayError, match="not a date"):
        business_day(tz=SHANGHAI, explicit="yesterday")


def test_no_date_at_all_is_an_error_that_says_what_to_pass():
    with pytest.raises(RunDayError, match="day"):
        business_day(tz=SHANGHAI)


def test_a_run_day_spans_its_local_midnights():
    day = RunDay(day=date(2025, 3, 9), run_id="r", tz=ZoneInfo("America/New_York"))  # DST starts: 23 hours
    assert day.end_ts - day.start_ts == 23 * 3600
    assert RunDay(day=date(2025, 1, 1), run_id="r", tz=SHANGHAI).start_ts == 1735660800


def test_settings_come_from_the_file_then_the_environment(tmp_path):
    config = tmp_path / "siyu.yml"
    config.write_text("sources: [store, wecom]\ntimezone: Europe/Berlin\nengine: spark\nvars:\n  rfm_window_days: 90\n")
    settings = load_settings({"SIYU_CONFIG": str(config)})
    assert settings.sources == ("wecom", "store") and settings.timezone == "Europe/Berlin"
    assert settings.dbt_vars == {"rfm_window_days": 90} and settings.engine == "spark"
    overridden = load_settings(
        {"SIYU_CONFIG": str(config), "SIYU_SOURCES": "store", "SIYU_TIMEZONE": "UTC", "SIYU_ENGINE": "DuckDB"}
    )
    assert overridden.sources == ("store",) and overridden.timezone == "UTC" and overridden.engine == "duckdb"
    assert load_settings({}).engine == "duckdb"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SIYU_SOURCES": "store,pos"}, "unknown source"),
        ({"SIYU_SOURCES": " , "}, "names no source"),
        ({"SIYU_SOURCES": ""}, None),  # unset or empty: every source
        ({"SIYU_TIMEZONE": "China"}, "unknown time zone"),
        ({"SIYU_CONFIG": "/nonexistent/siyu.yml"}, "no such file"),
        ({"SIYU_ENGINE": "snowflake"}, "unknown engine 'snowflake'; known: duckdb, spark"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(environ, message):
    if message is None:
        assert load_settings(environ).sources == ("wecom", "shop", "store")
        return
    with pytest.raises(ConfigError, match=message):
        load_settings(environ)


def test_a_removed_var_in_a_settings_file_is_refused_with_what_replaced_it(tmp_path):
    """GIVEN a settings file from an earlier siyu that still sets audience_priorities THEN loading it fails
    and names the registry that replaced it, instead of the build silently ignoring the brand's order."""
    config = tmp_path / "siyu.yml"
    config.write_text("vars:\n  audience_priorities: {vip_care: 1}\n  rfm_window_days: 90\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"audience_priorities was removed: .*seeds/audience_registry.csv"):
        load_settings({"SIYU_CONFIG": str(config)})


def test_a_var_siyu_does_not_have_is_refused_with_the_closest_name(tmp_path):
    """GIVEN a settings file with a typo in a var name THEN loading it fails and names the var it meant,
    instead of dbt receiving a var nothing reads (the brand's setting silently not applied)."""
    config = tmp_path / "siyu.yml"
    config.write_text("vars:\n  vip_top_shar: 0.1\n  rfm_window_days: 90\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"vip_top_shar is not a siyu dbt var \(did you mean vip_top_share\?\)"):
        load_settings({"SIYU_CONFIG": str(config)})


def dag_shapes(sources: str) -> dict:
    """Each DAG's schedule and the transform's Assets, parsed in a fresh process with SIYU_SOURCES set."""
    code = (
        "import json, sys; from airflow.dag_processing.dagbag import DagBag; b = DagBag(sys.argv[1]);"
        "assert not b.import_errors, b.import_errors;"
        "t = b.dags['transform'];"
        "schedules = {d.dag_id: d.timetable.can_be_scheduled for d in b.dags.values()};"
        "assets = sorted(a.name for a in t.timetable.asset_condition.objects);"
        "print('SHAPES:' + json.dumps({'schedules': schedules, 'transform_assets': assets}))"
    )
    env = {**os.environ, "SIYU_SOURCES": sources}
    result = subprocess.run([sys.executable, "-c", code, str(DAGS)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("SHAPES:"))
    return json.loads(line.removeprefix("SHAPES:"))


def test_a_store_only_brand_schedules_only_the_store_ingest_and_the_transform_waits_only_for_it():
    shapes = dag_shapes("store")
    assert not shapes["schedules"]["ingest_wecom"] and not shapes["schedules"]["ingest_shop"]
    assert shapes["schedules"]["ingest_store"]
    assert shapes["transform_assets"] and all(name.startswith("raw_store_") for name in shapes["transform_assets"])


def test_every_source_scheduled_by_default():
    shapes = dag_shapes("wecom,shop,store")
    assert all(shapes["schedules"][d] for d in ("ingest_wecom", "ingest_shop", "ingest_store"))
    assert {name.split("_")[1] for name in shapes["transform_assets"]} == {"wecom", "shop", "store"}


def test_the_audiences_as_of_day_is_read_from_the_warehouse(tmp_path):
    import duckdb

    from siyu.activation import audiences_as_of

    warehouse = tmp_path / "siyu.duckdb"
    assert audiences_as_of(warehouse) is None  # before the first build
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema audiences; create schema marts")
        con.execute("create table marts.customer_rfm as select date '2025-12-30' as snapshot_date")
        con.execute("create table audiences.audience_assignments (computed_on date)")
    assert audiences_as_of(warehouse) == date(2025, 12, 30)  # no one qualified: the segments' day
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into audiences.audience_assignments values (date '2025-12-31')")
    assert audiences_as_of(warehouse) == date(2025, 12, 31)


def test_activation_acts_on_customers_only_after_a_build_of_the_present():
    """A transform run with an explicit as_of is a report of the past: activation exports it but records
    no sends and writes no tags. The latest triggering build decides."""
    from types import SimpleNamespace

    from siyu.orchestration import acts_on_customers as acts

    def context(*extras):
        events = [SimpleNamespace(extra=extra, timestamp=f"2026-12-01T0{n}:00") for n, extra in enumerate(extras)]
        return {"triggering_asset_events": {"audience_vip_care": events}}

    assert acts({})  # started by hand
    assert acts(context({"as_of": "2026-11-30", "as_of_requested": False}))
    assert not acts(context({"as_of": "2026-11-15", "as_of_requested": True}))
    assert acts(context({"as_of": "2026-11-15", "as_of_requested": True}, {"as_of": "2026-11-30"}))
