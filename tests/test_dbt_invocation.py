"""dbt per call (issue 20): `dbt_build` passes the lake, warehouse, privacy and truth locations as vars of the
call, read by the project's own profiles.yml and macros/locations.sql, so builds of different lakes in one
process each land in their own warehouse, the process environment is left as it was, and the warehouse is
free for another process once the build returns (no reaching into dbt-duckdb's private state).

A one-model project named `siyu` with the real profiles.yml and locations macros keeps it to seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from siyu import transform
from siyu.lake import write_partition

SIYU_PROJECT = transform.PROJECT_DIR  # before tiny_project points transform at its own

MODEL = """
select
    id,
    '{{ siyu.truth_dir() }}' as truth_dir,
    '{{ siyu.privacy_dir() }}' as privacy_dir
from read_parquet('{{ siyu.lake_dir() }}/raw/store/members/dt=*/part-0.parquet')
"""


@pytest.fixture()
def tiny_project(tmp_path, monkeypatch) -> Path:
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "macros").mkdir()
    (project / "dbt_project.yml").write_text('name: siyu\nversion: "1.0"\nconfig-version: 2\nprofile: siyu\n')
    shutil.copy(transform.PROJECT_DIR / "profiles.yml", project / "profiles.yml")
    shutil.copy(transform.PROJECT_DIR / "macros" / "locations.sql", project / "macros" / "locations.sql")
    (project / "models" / "members.sql").write_text(MODEL)
    monkeypatch.setattr(transform, "PROJECT_DIR", project)
    monkeypatch.setenv("SIYU_SOURCES", "store")
    return project


def _lake(root: Path, ids: list[int]) -> Path:
    lake = root / "lake"
    write_partition(lake, "store", "members", "2025-01-01", pa.table({"id": ids}), run_id="t", window=("a", "b"))
    return lake


def _rows(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute("select id, truth_dir, privacy_dir from main.members order by id").fetchall()


def _another_process_can_write(warehouse: Path) -> bool:
    script = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('checkpoint')"
    return subprocess.run([sys.executable, "-c", script, str(warehouse)], capture_output=True).returncode == 0


def test__dbt_build__two_builds_in_one_process_land_in_their_own_warehouses(tiny_project, tmp_path, monkeypatch):
    # GIVEN two lakes with different members, and an environment naming a third lake and warehouse
    first_lake, second_lake = _lake(tmp_path / "first", [1, 2]), _lake(tmp_path / "second", [7])
    elsewhere = _lake(tmp_path / "elsewhere", [99])
    monkeypatch.setenv("SIYU_LAKE_DIR", str(elsewhere))
    monkeypatch.setenv("SIYU_WAREHOUSE", str(tmp_path / "elsewhere" / "siyu.duckdb"))
    monkeypatch.setenv("SIYU_TRUTH_DIR", str(tmp_path / "elsewhere" / "truth"))
    monkeypatch.delenv("SIYU_PRIVACY_DIR", raising=False)
    monkeypatch.delenv("SIYU_PSEUDONYM_KEY", raising=False)
    environment_before = dict(os.environ)
    first, second = tmp_path / "first" / "wh" / "siyu.duckdb", tmp_path / "second" / "wh" / "siyu.duckdb"

    # WHEN one process builds the first lake (with a truth folder), then the second (without)
    first_result = transform.dbt_build(first_lake, first, truth=tmp_path / "first" / "truth")
    first_free = _another_process_can_write(first)
    second_result = transform.dbt_build(second_lake, second)

    # THEN each warehouse holds its own lake's rows and locations, and the environment's are not used
    assert first_result.success, first_result.failures
    assert second_result.success, second_result.failures
    first_privacy = str((tmp_path / "first" / "privacy").resolve())
    second_privacy = str((tmp_path / "second" / "privacy").resolve())
    first_truth = str((tmp_path / "first" / "truth").resolve())
    assert _rows(first) == [(1, first_truth, first_privacy), (2, first_truth, first_privacy)]
    assert _rows(second) == [(7, "", second_privacy)]
    assert not (tmp_path / "elsewhere" / "siyu.duckdb").exists()
    # AND the pseudonym plugin found each build's key file beside its own lake
    assert (tmp_path / "first" / "privacy" / "pseudonym.key").exists()
    assert (tmp_path / "second" / "privacy" / "pseudonym.key").exists()
    # AND the process environment is unchanged
    assert dict(os.environ) == environment_before
    # AND each warehouse was free for another process's writer once its build returned
    assert first_free
    assert _another_process_can_write(second)


def test__dbt_build__a_new_day_reuses_the_last_parse(tiny_project, tmp_path, capfd):
    """Issue 22: the day built changes every run. As a var it made dbt parse the whole project again each
    day (it compares every var with the last parse); siyu passes it in SIYU_SNAPSHOT_DATE for the call, which
    only the snapshot_date macro reads."""
    # GIVEN a model dated by the project's own snapshot_date macro
    (tiny_project / "dbt_project.yml").write_text(
        (tiny_project / "dbt_project.yml").read_text() + "vars:\n  snapshot_date: null\n"
    )
    shutil.copy(SIYU_PROJECT / "macros" / "segments.sql", tiny_project / "macros")
    (tiny_project / "models" / "day.sql").write_text("select {{ siyu.snapshot_date() }} as snapshot_date\n")
    lake, warehouse = _lake(tmp_path, [1]), tmp_path / "wh" / "siyu.duckdb"

    # WHEN the same lake is built as of one day, then as of the next
    first = transform.dbt_build(lake, warehouse, dbt_vars={"snapshot_date": "2025-03-01"})
    capfd.readouterr()
    second = transform.dbt_build(lake, warehouse, dbt_vars={"snapshot_date": "2025-03-02"})
    second_output = capfd.readouterr().out

    # THEN the second build dated its rows with its own day, from the first build's parse
    assert first.success and second.success, (first.failures, second.failures)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        assert connection.execute("select cast(snapshot_date as varchar) from main.day").fetchall() == [("2025-03-02",)]
    assert "Unable to do partial parsing" not in second_output, second_output[:2000]
    # AND the day was set for the call only
    assert "SIYU_SNAPSHOT_DATE" not in os.environ


def _duckdb_settings(tiny_project: Path, tmp_path: Path, name: str) -> tuple[int, str]:
    (tiny_project / "models" / "settings.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select current_setting('memory_limit') as memory_limit,"
        " cast(current_setting('preserve_insertion_order') as varchar) as insertion_order\n"
    )
    lake, warehouse = _lake(tmp_path / name, [1]), tmp_path / name / "wh" / "siyu.duckdb"
    result = transform.dbt_build(lake, warehouse, select="settings")
    assert result.success, result.failures
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        limit, insertion_order = connection.execute("select * from main.settings").fetchone()
    number, unit = limit.split()
    return int(float(number) * {"MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]), insertion_order


def test__dbt_build__duckdb_works_within_the_memory_limit_set(tiny_project, tmp_path, monkeypatch):
    """Issue 22: a year of daily history took a full build to 16 GB at 100,000 persons. SIYU_DUCKDB_MEMORY_LIMIT
    sets DuckDB's limit, beyond which it spills to disk, and the profile lets DuckDB drop insertion order,
    which needs less memory."""
    # WHEN a build runs with SIYU_DUCKDB_MEMORY_LIMIT set
    monkeypatch.setenv("SIYU_DUCKDB_MEMORY_LIMIT", "1GB")
    limit, insertion_order = _duckdb_settings(tiny_project, tmp_path, "set")

    # THEN DuckDB's limit was that, and insertion order off
    assert abs(limit - 10**9) < 2**20
    assert insertion_order == "false"


def test__dbt_build__a_rebuild_reuses_the_space_of_the_tables_it_replaced(tiny_project, tmp_path, monkeypatch):
    """Issue 22: DuckDB frees a replaced table's blocks only at a checkpoint, and a build's bulk writes never
    triggered one, so each daily run added every table it rewrote to the file (358 -> 581 MB at 100,000
    persons) and had to be compacted. siyu checkpoints after each model, so the next one reuses them."""
    # GIVEN six tables of about 7 MB each, each read from the one before (so they build one after another),
    # built once (compaction off: it would hide the growth)
    monkeypatch.setattr(transform, "_compact_when_bloated", lambda warehouse: None)
    (tiny_project / "models" / "big_0.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select range as id, md5(cast(range as varchar)) as digest from range(400000)\n"
    )
    for number in range(1, 6):
        (tiny_project / "models" / f"big_{number}.sql").write_text(
            "{{ config(materialized='table') }}\n"
            f"select id, md5(digest || '{number}') as digest from {{{{ ref('big_{number - 1}') }}}}\n"
        )
    lake, warehouse = _lake(tmp_path, [1]), tmp_path / "wh" / "siyu.duckdb"
    assert transform.dbt_build(lake, warehouse, select="big_0 big_1 big_2 big_3 big_4 big_5").success
    first = warehouse.stat().st_size

    # WHEN the same tables are built again
    assert transform.dbt_build(lake, warehouse, select="big_0 big_1 big_2 big_3 big_4 big_5").success

    # THEN the file grew by about one table, not by all six again
    assert warehouse.stat().st_size < 1.4 * first, (first, warehouse.stat().st_size)
