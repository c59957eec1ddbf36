"""Crashes and conflicts (issue 17): ingestion and `dbt build` killed with SIGKILL at random points leave
nothing a rerun cannot finish (the lake equals the clean lake, the warehouse's customers the clean build's),
a killed write never shows readers half a partition, and a failed build says why."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siyu import transform
from siyu.lake import LEFTOVER, MANIFEST, ZONES, write_partition
from siyu.orchestration import RAW_ENTITIES
from siyu.transform import dbt_build

pytestmark = pytest.mark.integration
SEED = 17  # every kill point is drawn from it; failure messages list the points
SCALE, WORLD_DAYS, DROP_DAYS = 600, 130, 5  # 130 days: the shortest period the world generator takes
RUN_DAY = date(2025, 1, 1 + DROP_DAYS)  # the day after the drops' last business day
ENOUGH_INGEST_KILLS, ENOUGH_DBT_KILLS = 22, 5

# A store ingestion in a child process. It counts its calls of the file-system steps a lake write is made
# of and, given a number, kills itself with SIGKILL at that call: every step boundary can be hit, not only
# those a timer happens to land on. "two-renames" takes away the atomic exchange (as on a file system
# without it). Prints "ready" once imported, "calls=<n>" at the end.
INGEST_CHILD = """
import os, signal, sys
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from siyu import lake
from siyu.ingest.run_day import RunDay
from siyu.ingest.store import ingest_files

drops, root, run_id, day, mode, kill_at = sys.argv[1:7]
kill_at, calls = int(kill_at), 0
if mode == "two-renames":
    lake._exchange = lambda first, second: False


def counted(function):
    def call(*args, **kwargs):
        global calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)

    return call


for module, name in [(os, n) for n in ("mkdir", "rename", "replace", "unlink", "rmdir", "fsync")] + [
    (pq, "write_table"),
    (lake, "_exchange"),
]:
    setattr(module, name, counted(getattr(module, name)))
print("ready", flush=True)
ingest_files(Path(drops), Path(root), RunDay(day=date.fromisoformat(day), run_id=run_id))
print(f"calls={calls}", flush=True)
"""

DBT_CHILD = """
import sys
from pathlib import Path

from siyu.transform import dbt_build

result = dbt_build(
    Path(sys.argv[1]), Path(sys.argv[2]), select="+dim_customers", extra_args=["--indirect-selection", "cautious"]
)
print("FAILURES", result.failures, flush=True)
sys.exit(0 if result.success else 1)
"""
DBT_NODE_START = re.compile(r"\d+ of \d+ START (?P<node>.+?) \.*\s*\[RUN\]")


def child_env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


# ---------------------------------------------------------------- the lake, compared partition by partition


def partition_content(folder: Path, with_runs: bool):
    """Rows (sorted) and manifest of one partition folder; run ids kept only when with_runs."""
    volatile = {"written_at"} | (set() if with_runs else {"run_id"})
    try:
        rows = pq.read_table(folder / "part-0.parquet").to_pylist()
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8")) if (folder / MANIFEST).exists() else {}
    except Exception as error:  # a half-written partition is a finding, reported as such
        return f"unreadable: {error}"
    return (
        sorted(
            json.dumps({k: v for k, v in row.items() if k not in volatile}, sort_keys=True, default=str) for row in rows
        ),
        {k: v for k, v in manifest.items() if k not in volatile},
    )


def lake_state(lake: Path, with_runs: bool = False) -> dict[str, object]:
    """Every published partition (raw and quarantine) by its path: what a reader of the lake sees."""
    return {
        folder.relative_to(lake).as_posix(): partition_content(folder, with_runs)
        for zone in ZONES
        for folder in sorted(lake.glob(f"{zone}/*/*/dt=*"))
    }


def leftovers(lake: Path) -> list[str]:
    return sorted(p.relative_to(lake).as_posix() for zone in ZONES for p in lake.glob(f"{zone}/*/*/.dt=*"))


def neither_old_nor_new(lake: Path, old: dict, new: dict) -> list[str]:
    """Partitions that are not exactly the old or the new one after a crash, before any recovery. A missing
    partition is allowed only where one of the two is "absent", or, without the exchange, while an `.old-*`
    leftover holds it for recovery to put back."""
    now, problems = lake_state(lake, with_runs=True), []
    for key in sorted(set(old) | set(new) | set(now)):
        state = now.get(key)
        if key not in now and None not in (old.get(key), new.get(key)):
            folder = (lake / key).parent
            held = [f for f in folder.glob(f".{Path(key).name}.old-*") if LEFTOVER.fullmatch(f.name)]
            state = partition_content(held[0], with_runs=True) if len(held) == 1 else f"missing ({len(held)} .old)"
        if state not in (old.get(key), new.get(key)):
            problems.append(f"{key}: {str(state)[:160]}")
    return problems


def differences(lake: Path, clean: dict) -> list[str]:
    now = lake_state(lake)
    return [key for key in sorted(set(now) | set(clean)) if now.get(key) != clean.get(key)]


# ---------------------------------------------------------------- (a) ingestion killed


@pytest.fixture(scope="module")
def store_drops(tmp_path_factory) -> dict[int, Path]:
    """Two worlds' store, archive and visit drops for the same first days: the lake holds one world's, the
    run under test loads the other's, so every partition it replaces differs from the one before."""
    from siyu_sim.drops import write_archive, write_store_drops, write_visits
    from siyu_sim.world.generate import generate
    from siyu_sim.world.spec import WorldSpec

    root, drops = tmp_path_factory.mktemp("crash-drops"), {}
    for seed in (5, 6):
        world = root / f"world-{seed}"
        generate(WorldSpec(scale=SCALE, seed=seed, days=WORLD_DAYS), world)
        drops[seed] = root / f"drops-{seed}"
        for write in (write_store_drops, write_archive, write_visits):
            write(world, drops[seed], 0, DROP_DAYS - 1)
    return drops


def ingest(drops: Path, lake: Path, run_id: str, mode: str = "exchange", kill_at: int = 0, kill_after=None):
    """Run the ingestion child; kill it at the kill_at-th lake step, or kill_after seconds after it is
    ready. Returns (return code, seconds from ready to exit, calls counted)."""
    command = [sys.executable, "-c", INGEST_CHILD, str(drops), str(lake), run_id, RUN_DAY.isoformat(), mode]
    process = subprocess.Popen(
        [*command, str(kill_at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env()
    )
    assert process.stdout.readline().strip() == "ready", process.stderr.read()[-3000:]
    ready = time.monotonic()
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    out, err = process.communicate(timeout=600)
    calls = re.search(r"calls=(\d+)", out)
    if process.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"ingestion child failed ({process.returncode}):\n{err[-3000:]}")
    return process.returncode, time.monotonic() - ready, int(calls[1]) if calls else None


def test_ingestion_killed_at_random_points_then_rerun_equals_the_clean_lake(store_drops, tmp_path):
    """GIVEN a lake holding one world's store partitions, WHEN loading another world's drops (every
    partition replaced, new ones added, rejects quarantined) is killed at random points, 2-4 times in a
    row, THEN after each kill every partition is the old or the new one, and the rerun to completion leaves
    the clean lake, entity by entity, with no leftover folders."""
    from siyu.ingest.run_day import RunDay
    from siyu.ingest.store import ingest_files

    baseline = tmp_path / "baseline"
    ingest_files(store_drops[6], baseline, RunDay(day=RUN_DAY, run_id="baseline"))
    for path in baseline.iterdir():  # keep the data only: the file registry is lost, so every date is reloaded
        if path.name not in ZONES:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    old = lake_state(baseline, with_runs=True)
    clean_lake = tmp_path / "clean"
    shutil.copytree(baseline, clean_lake)
    code, seconds, total_calls = ingest(store_drops[5], clean_lake, "rerun")
    assert code == 0 and total_calls, "the clean run completes"
    new, clean = lake_state(clean_lake, with_runs=True), lake_state(clean_lake)
    assert sum(key.startswith("raw/") and key in old for key in new) >= 10, "the run replaces partitions"
    assert any(key.startswith("quarantine/") for key in new), "the run quarantines rows"

    rng, kills, trial = random.Random(SEED), [], 0
    while len(kills) < ENOUGH_INGEST_KILLS and trial < 40:
        trial += 1
        lake, mode = tmp_path / f"trial-{trial}", ("exchange", "two-renames")[trial % 2]
        shutil.copytree(baseline, lake)
        for attempt in range(rng.choice((2, 3, 4))):
            if rng.random() < 0.7:
                point = {"kill_at": rng.randint(1, total_calls)}
                where = f"lake step call {point['kill_at']}/{total_calls}"
            else:
                point = {"kill_after": round(rng.uniform(0, seconds), 3)}
                where = f"{point['kill_after']} s after start (of {seconds:.2f} s)"
            code, _, _ = ingest(store_drops[5], lake, "rerun", mode, **point)
            if code != -signal.SIGKILL:
                break  # it finished before the kill point: the next run starts from a complete lake
            kills.append(f"trial {trial} ({mode}) attempt {attempt + 1}: {where}")
            problems = neither_old_nor_new(lake, old, new)
            assert not problems, f"after kill {kills[-1]}: {problems[:5]}\nall kills: {kills}"
        code, _, _ = ingest(store_drops[5], lake, "rerun", mode)
        assert code == 0
        assert differences(lake, clean) == [], f"trial {trial} differs from the clean lake; kills: {kills}"
        assert leftovers(lake) == [], f"trial {trial} left folders behind; kills: {kills}"
    assert len(kills) >= ENOUGH_INGEST_KILLS, kills


# ---------------------------------------------------------------- (b) dbt build killed


@pytest.fixture(scope="module")
def crash_world_lake(tmp_path_factory) -> Path:
    """A small world landed through the simulators (every raw entity, a period's orders and friendships)."""
    from siyu_sim.replay import land_world
    from siyu_sim.server import RunningSimulators
    from siyu_sim.world.generate import generate
    from siyu_sim.world.spec import WorldSpec

    root = tmp_path_factory.mktemp("crash-world")
    generate(WorldSpec(scale=SCALE, seed=5, days=WORLD_DAYS), root / "world")
    with RunningSimulators(root / "world") as sim:
        land_world(sim, root / "world", root / "lake", root / "drops")
    return root / "lake"


def build(lake: Path, warehouse: Path, kill_at_start: int = 0, delay: float = 0.0):
    """`dbt build` of dim_customers and everything upstream in a child process; with kill_at_start, killed
    `delay` seconds after the kill_at_start-th node starts. Returns (return code, nodes started, where, output)."""
    process = subprocess.Popen(
        [sys.executable, "-c", DBT_CHILD, str(lake), str(warehouse)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(),
    )
    started, where, output = 0, "", []
    for line in process.stdout:
        output.append(line)
        if match := DBT_NODE_START.search(line):
            started += 1
            if started == kill_at_start:
                where = f"node start {started} ({match['node'].strip()}) + {delay} s"
                time.sleep(delay)
                process.send_signal(signal.SIGKILL)
                break
    output.append(process.stdout.read())
    process.wait(timeout=600)
    return process.returncode, started, where, "".join(output)


def customer_ids(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return [row[0] for row in connection.sql("select customer_id from marts.dim_customers order by 1").fetchall()]


def temporary_relations(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return [
            f"{schema}.{name}"
            for schema, name in connection.sql(
                "select table_schema, table_name from information_schema.tables where contains(table_name, '__dbt_tmp')"
            ).fetchall()
        ]


def test_dbt_build_killed_at_random_points_then_rerun_keeps_the_customers(crash_world_lake, tmp_path):
    """GIVEN a clean build's customers, WHEN builds of the same lake into another warehouse are killed at
    random nodes (three during the first build, two during incremental ones), THEN each rerun completes and
    the warehouse holds exactly the clean build's customer ids, and no `__dbt_tmp` relation is left."""
    clean = tmp_path / "clean" / "siyu.duckdb"
    code, nodes, _, output = build(crash_world_lake, clean)
    assert code == 0, output[-4000:]
    clean_ids = customer_ids(clean)
    assert len(clean_ids) > 100

    warehouse, rng, kills = tmp_path / "crashed" / "siyu.duckdb", random.Random(SEED), []
    for round_number, kills_in_round in ((1, 3), (2, ENOUGH_DBT_KILLS - 3)):
        killed = 0
        for _ in range(3 * kills_in_round):
            if killed == kills_in_round:
                break
            code, _, where, output = build(
                crash_world_lake, warehouse, rng.randint(1, nodes), round(rng.random() * 2, 2)
            )
            if code == -signal.SIGKILL:
                kills.append(f"round {round_number}: {where}")
                killed += 1
            else:  # the build finished before the kill point
                assert code == 0, f"a build after kills {kills} failed:\n{output[-4000:]}"
        code, _, _, output = build(crash_world_lake, warehouse)
        assert code == 0, f"the rerun after kills {kills} failed:\n{output[-4000:]}"
        ids = customer_ids(warehouse)
        assert ids == clean_ids, (
            f"after kills {kills}: {len(set(ids) - set(clean_ids))} customer ids not in the clean build, "
            f"{len(set(clean_ids) - set(ids))} missing"
        )
    assert len(kills) >= ENOUGH_DBT_KILLS, kills
    assert temporary_relations(warehouse) == [], f"after two builds and kills {kills}"


# ---------------------------------------------------------------- a failed build says why (a tiny project)

TINY_PROJECT = {
    "dbt_project.yml": """
name: tiny
version: "1.0"
config-version: 2
profile: siyu
on-run-start:
  - "{{ var('hook_sql', 'select 1') }}"
""",
    "profiles.yml": """
siyu:
  target: duckdb
  outputs:
    duckdb:
      type: duckdb
      path: "{{ var('warehouse_path') }}"
      threads: 1
""",
    "models/one.sql": "select {{ var('one_sql', '1') }} as id\n",
}


@pytest.fixture()
def tiny_build(tmp_path, monkeypatch):
    """dbt_build against a one-model project (its hook and model SQL set by vars) and a lake with every
    raw entity present: the build's result handling, in a few seconds."""
    project = tmp_path / "project"
    for name, text in TINY_PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(transform, "PROJECT_DIR", project)
    lake = tmp_path / "lake"
    for source, entities in RAW_ENTITIES.items():
        for entity in entities:
            write_partition(lake, source, entity, "2025-01-01", pa.table({"id": [1]}), run_id="t", window=("a", "b"))
    warehouse = tmp_path / "wh" / "siyu.duckdb"
    return lambda **dbt_vars: dbt_build(lake, warehouse, dbt_vars=dbt_vars), warehouse


def test_a_build_blocked_by_another_writer_names_the_lock(tiny_build):
    """Two transforms at once: the second used to fail with an empty failure list."""
    run, warehouse = tiny_build
    warehouse.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(warehouse)!r}); print('held'); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run()
    finally:
        holder.kill()
        holder.wait()
    assert not result.success
    assert any(
        "Could not set lock on file" in failure and "Conflicting lock" in failure for failure in result.failures
    ), result.failures


@pytest.mark.parametrize(
    ("dbt_vars", "named"),
    [
        ({"hook_sql": "select * from no_such_table"}, ["on-run-start", "no_such_table"]),
        ({"one_sql": "no_such_column"}, ["one", "no_such_column"]),
    ],
    ids=["on-run-start hook", "model"],
)
def test_a_failing_hook_or_model_is_named_with_its_error(tiny_build, dbt_vars, named):
    run, _ = tiny_build
    result = run(**dbt_vars)
    assert not result.success
    assert any(all(word in failure for word in named) for failure in result.failures), result.failures


def test_dbt_temporary_relations_are_dropped_after_a_build(tiny_build):
    """What a Python incremental model (int_identity_map) or a killed build leaves: `<model>__dbt_tmp<ts>`."""
    run, warehouse = tiny_build
    warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create table main.int_identity_map__dbt_tmp20261201010101 as select 'raw phone' as v")
        connection.execute("create schema marts; create view marts.x__dbt_tmp1 as select 1 as v")
        connection.execute("create table main.kept as select 1 as v")
    assert run().success
    assert temporary_relations(warehouse) == []
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        assert connection.sql("select count(*) from main.kept").fetchall() == [(1,)]
