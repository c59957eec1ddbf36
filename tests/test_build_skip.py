"""A daily transform with nothing new does no work (issue 22): dbt_build(skip_unchanged=True) skips a
whole-project build whose inputs equal the last successful build's, and names what changed otherwise."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import date, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from siyu.build_inputs import changed_since_last_build, fingerprint, last_as_of
from siyu.lake import write_partition
from siyu.transform import dbt_build, locations
from siyu.warehouse import open_warehouse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built_twice(world_warehouse, small_world, tmp_path_factory):
    """GIVEN a copy of the session's lake and warehouse WHEN the transform builds it twice with
    skip_unchanged THEN the first builds, the second is skipped."""
    root = tmp_path_factory.mktemp("skip")
    lake, warehouse = root / "lake", root / "wh" / "siyu.duckdb"
    shutil.copytree(world_warehouse.parents[1] / "lake", lake)
    warehouse.parent.mkdir()
    shutil.copy(world_warehouse, warehouse)
    truth = small_world / "truth"
    first = dbt_build(lake, warehouse, truth=truth, skip_unchanged=True, unit_tests=False)  # as the DAG does
    ran = json.loads((warehouse.parent / "dbt_target" / "run_results.json").read_text(encoding="utf-8"))
    built_at = warehouse.stat().st_mtime_ns
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("siyu.transform")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        second = dbt_build(lake, warehouse, truth=truth, skip_unchanged=True)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return {
        "lake": lake,
        "warehouse": warehouse,
        "truth": truth,
        "first": first,
        "second": second,
        "unchanged_file": warehouse.stat().st_mtime_ns == built_at,
        "log": [record.getMessage() for record in records],
        "first_nodes": [result["unique_id"].split(".")[0] for result in ran["results"]],
    }


def build_vars(run, **extra) -> dict:
    """The vars dbt_build gives dbt for this lake and warehouse (the brand's settings, then the run's)."""
    from siyu.config import dbt_vars, load_settings

    return {**dbt_vars(load_settings(), extra or None), **locations(run["lake"], run["warehouse"], run["truth"])}


def test_a_rerun_with_nothing_new_is_skipped_and_says_so(built_twice):
    assert built_twice["first"].success and not built_twice["first"].skipped
    assert built_twice["first"].results.get("success", 0) > 50
    second = built_twice["second"]
    assert second.success and second.skipped and second.results == {}, built_twice["log"][:3]
    assert built_twice["unchanged_file"], "a skipped build does not touch the warehouse"
    assert any("dbt build skipped: nothing changed since the last build" in line for line in built_twice["log"])


def inputs_now(run, truth=True, **extra) -> dict:
    """What the transform would fingerprint now (the sends as of the last build's day, as dbt_build does)."""
    lake, warehouse = run["lake"], run["warehouse"]
    return fingerprint(
        lake, warehouse, build_vars(run, **extra), run["truth"] if truth else None, last_as_of(warehouse)
    )


def test_a_new_partition_new_settings_or_new_sends_are_named_as_changes(built_twice):
    lake, warehouse = built_twice["lake"], built_twice["warehouse"]
    assert changed_since_last_build(warehouse, inputs_now(built_twice, truth=False)) == ["truth"], "an input"
    assert changed_since_last_build(warehouse, inputs_now(built_twice)) == []

    # A brand changes a setting (a run's snapshot date).
    assert changed_since_last_build(warehouse, inputs_now(built_twice, snapshot_date="2025-12-01")) == ["vars"]

    # Activation exports the audiences of the build's day (and again, on a retry): the caps count sends
    # before that day, so nothing the build reads changed.
    as_of = date.fromisoformat(last_as_of(warehouse))
    sent = pd.DataFrame([{"customer_id": "C1", "audience": "vip_care", "channel": "wecom_1v1", "run_id": "r1"}])
    with open_warehouse(warehouse, read_only=False) as writable:
        writable.replace_partition("activation.sends", sent.assign(sent_on=as_of), "sent_on", as_of)
        writable.replace_partition("activation.sends", sent.assign(sent_on=as_of, run_id="r2"), "sent_on", as_of)
    assert changed_since_last_build(warehouse, inputs_now(built_twice)) == []

    # A send of an earlier day (the caps read it) is a change.
    earlier = as_of - timedelta(days=1)
    with open_warehouse(warehouse, read_only=False) as writable:
        writable.replace_partition("activation.sends", sent.assign(sent_on=earlier), "sent_on", earlier)
    assert changed_since_last_build(warehouse, inputs_now(built_twice)) == ["activation_sends"]

    # A pull lands a day again (a rerun of the ingest): the partition's manifest names a new run.
    partition = sorted((lake / "raw" / "shop" / "orders").glob("dt=*"))[-1]
    day = partition.name.removeprefix("dt=")
    table = pq.read_table(partition / "part-0.parquet")
    table = table.drop_columns([name for name in ("dt",) if name in table.schema.names])
    write_partition(lake, "shop", "orders", day, table, run_id="rerun", window=(day, day))
    assert changed_since_last_build(warehouse, inputs_now(built_twice)) == ["activation_sends", "lake:shop/orders"]


def test_the_daily_build_runs_the_data_tests_and_leaves_the_unit_tests_to_ci(built_twice):
    kinds = built_twice["first_nodes"]
    assert kinds.count("test") > 100 and kinds.count("model") > 50
    assert "unit_test" not in kinds
