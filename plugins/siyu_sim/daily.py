"""A brand's daily runs replayed day by day, and what they cost (issue 22).

The replay: a world's history up to day D-1 landed in one pull on the morning of day D (land_history, as
land_world pulls the whole year), then each later day landed exactly as the daily DAGs land it
(land_day): on the simulators' clock just after the day's end, the WeCom snapshots and the day's
statistics (ingest_wecom), the shop's orders updated in the day and the ingest's lookback, and the buyers
not looked up lately (ingest_shop), the day's store, archive and visit-tracking files dropped and loaded
by arrival (ingest_store). Every landed day is checked: each order the world created that day is in the lake.

The measurement (bench_daily, `python -m siyu_sim.bench --only daily`): with the lake landed to D-1, the
full build; day D landed, the daily run as the transform DAG calls it; the same call again with nothing
new (the no-change rerun); 29 more days landed and built, the 30th daily run; a fresh full build of the
lake as of that day beside it; then, for the memory a year of history needs, a full build keeping 365 days
of daily segments (as of the day before the last) and the last day's daily run on it. Each build runs in a
child process, so its CPU seconds and peak memory (os.wait4's rusage) are that build's alone."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from siyu.connectors.wecom import WeComClient, WeComConfig
from siyu.connectors.youzan import YouzanClient, YouzanConfig
from siyu.ingest import shop, wecom
from siyu.ingest.run_day import RunDay
from siyu.ingest.store import ingest_files
from siyu.lake import partition_dir
from siyu_sim.drops import write_archive, write_store_drops, write_visits
from siyu_sim.replay import replay_request_budget
from siyu_sim.world.spec import DAY_SECONDS
from siyu_sim.world_state import order_status_at

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
# The daily DAGs run at 00:00 for the day that just ended: the clock stands a minute past the day's end.
CLOCK_AFTER_DAY_END_SECONDS = 60
DAILY_RUNS = 30  # the "30th daily run"
YEAR_DAYS = 365  # "a year of daily history" (issue 22's memory target)
# The year's full build again with DuckDB's memory limited to this (SIYU_DUCKDB_MEMORY_LIMIT): bounded memory.
YEAR_MEMORY_LIMIT = "4GB"


def world_day(state, number: int) -> RunDay:
    """The RunDay of the world's day `number` (0 = its first day)."""
    return RunDay(day=date.fromisoformat(state.meta["start"]) + timedelta(days=number), run_id=f"daily-{number}")


def day_end_ts(state, number: int) -> int:
    return state.meta["start_ts"] + (number + 1) * DAY_SECONDS


def _wecom_config(sim, budget: int | None = None) -> WeComConfig:
    creds = sim.credentials
    extra = {"request_budget": budget} if budget else {}
    return WeComConfig(sim.base_url, creds["corp_id"], creds["corp_secret"], **extra)


def _youzan_config(sim, budget: int | None = None) -> YouzanConfig:
    creds = sim.credentials
    extra = {"request_budget": budget} if budget else {}
    return YouzanConfig(
        sim.base_url, creds["youzan_client_id"], creds["youzan_client_secret"], creds["youzan_kdt_id"], **extra
    )


def land_history(sim, world: Path, lake: Path, drops: Path, last_day: int) -> dict:
    """Days 0..last_day in one pull a minute after last_day ends, as land_world pulls the whole year: the
    WeCom snapshots and last_day's statistics, every order created up to then (into last_day's partition)
    and its buyers, the store files of those days. Returns counts per step."""
    state = sim.sims.state
    run = world_day(state, last_day)
    state.set_clock(day_end_ts(state, last_day) + CLOCK_AFTER_DAY_END_SECONDS)
    budget = replay_request_budget(state.meta["scale"])  # a year in one run asks more than a day's budget
    counts: dict = {}
    with WeComClient(_wecom_config(sim, budget)) as client:
        for step in (wecom.snapshot_contacts, wecom.snapshot_groups, wecom.snapshot_directory, wecom.pull_statistics):
            counts.update(step(client, lake, run))
    with YouzanClient(_youzan_config(sim, budget)) as client:
        window = (state.meta["start_ts"], run.end_ts - 1)
        counts.update(shop.pull_orders(client, lake, run, window=window))
        buyers = pq.read_table(partition_dir(lake, "raw", "shop", "orders", run.dt), columns=["yz_open_id"])
        counts.update(shop.pull_users(client, lake, run, buyers.column(0).to_pylist()))
    write_store_drops(world, drops, 0, last_day)
    write_archive(world, drops, 0, last_day)
    write_visits(world, drops, 0, last_day)
    counts["store"] = ingest_files(drops, lake, run)["entities"]
    log.info("daily: history to %s landed: %s", run.dt, counts)
    return counts


def land_day(sim, world: Path, lake: Path, drops: Path, number: int) -> dict:
    """Day `number` as the daily DAGs land it, a minute after it ends, with their default request budgets:
    ingest_wecom's four tasks, ingest_shop's orders (the day and the ingest's lookback) and buyers, and
    ingest_store loading the files dropped for the day. Returns counts per step."""
    state = sim.sims.state
    run = world_day(state, number)
    state.set_clock(day_end_ts(state, number) + CLOCK_AFTER_DAY_END_SECONDS)
    counts: dict = {}
    with WeComClient(_wecom_config(sim)) as client:
        for step in (wecom.snapshot_contacts, wecom.snapshot_groups, wecom.snapshot_directory, wecom.pull_statistics):
            counts.update(step(client, lake, run))
    with YouzanClient(_youzan_config(sim)) as client:
        counts.update(shop.pull_orders(client, lake, run))
        buyers = pq.read_table(partition_dir(lake, "raw", "shop", "orders", run.dt), columns=["yz_open_id"])
        counts.update(shop.pull_users(client, lake, run, buyers.column(0).to_pylist()))
    write_store_drops(world, drops, number, number)
    write_archive(world, drops, number, number)
    write_visits(world, drops, number, number)
    counts["store"] = ingest_files(drops, lake, run)["entities"]
    counts["orders_created_that_day"] = check_day_landed(world, lake, state, number)
    log.info("daily: %s landed: %s", run.dt, counts)
    return counts


class DayNotLanded(AssertionError):
    """Orders the world had updated by a day's end are missing from the lake after the day was landed."""


def check_day_landed(world: Path, lake: Path, state, number: int) -> int:
    """Every order the world had last updated before day `number` ended, as of the simulators' clock
    (siyu_sim.world_state.order_status_at), is in the lake's orders (any partition): the day's orders, and
    the late ones of earlier days. An order created late in the day and paid after midnight is updated after
    the day, so the next day's pull brings it. Returns how many orders the world created that day."""
    end = day_end_ts(state, number)
    orders = order_status_at(pd.read_parquet(world / "shop" / "orders.parquet"), state.now)
    due = set(orders.loc[orders["update_time"] < end, "tid"])
    landed: set[str] = set()
    for path in (Path(lake) / "raw" / "shop" / "orders").glob("dt=*/part-0.parquet"):
        landed.update(pq.read_table(path, columns=["tid"]).column(0).to_pylist())
    missing = due - landed
    if missing:
        raise DayNotLanded(f"{len(missing)} orders updated by the end of day {number} are not in the lake")
    return int(((orders["created"] >= end - DAY_SECONDS) & (orders["created"] < end)).sum())


# --- one build in a child process ------------------------------------------------------------------------


@dataclass
class MeasuredBuild:
    name: str
    wall_seconds: float
    cpu_seconds: float
    peak_rss_bytes: int | None  # None: unknown (no VmHWM on this system)
    skipped: bool
    results: dict
    warehouse_bytes: int


def measure_build(
    name: str,
    lake: Path,
    warehouse: Path,
    snapshot_date: date,
    dbt_vars: dict,
    skip_unchanged: bool,
    log_file: Path,
    environment: dict[str, str] | None = None,
) -> MeasuredBuild:
    """siyu.transform.dbt_build(lake, warehouse, snapshot_date, unit_tests=False, skip_unchanged) in a
    child process (`python -m siyu_sim.daily build`); its wall and CPU seconds (os.wait4's rusage of that
    child alone) and its peak resident memory (the child's own VmHWM: rusage's ru_maxrss starts from the
    parent's resident size at the fork, kept across exec, so a skipped build read as this process's 2 GB).
    `environment` is added to the child's environment variables. A failed build raises."""
    outcome_file = log_file.with_suffix(".json")
    outcome_file.unlink(missing_ok=True)
    request = {
        "outcome": str(outcome_file),
        "lake": str(lake),
        "warehouse": str(warehouse),
        "dbt_vars": {**dbt_vars, "snapshot_date": snapshot_date.isoformat()},
        "skip_unchanged": skip_unchanged,
    }
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log.info("daily bench: %s (snapshot_date %s)", name, snapshot_date)
    began = time.perf_counter()
    with log_file.open("w", encoding="utf-8") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "siyu_sim.daily", "build", json.dumps(request)],
            stdout=output,
            stderr=output,
            env={**os.environ, **(environment or {})},
        )
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    outcome = json.loads(outcome_file.read_text(encoding="utf-8")) if outcome_file.exists() else {}
    if child.returncode != 0 or not outcome.get("success"):
        raise RuntimeError(f"{name}: the build failed ({outcome.get('failures') or 'see ' + str(log_file)})")
    measured = MeasuredBuild(
        name=name,
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_bytes=outcome.get("peak_rss_bytes"),  # None where /proc is missing: reported as unknown
        skipped=bool(outcome.get("skipped")),
        results=outcome.get("results", {}),
        warehouse_bytes=warehouse_bytes(warehouse),
    )
    log.info(
        "daily bench: %s: %.1f s wall, %.1f s CPU, %s peak%s",
        name,
        measured.wall_seconds,
        measured.cpu_seconds,
        gigabytes(measured.peak_rss_bytes),
        " (skipped)" if measured.skipped else "",
    )
    return measured


def gigabytes(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 1e9:.2f} GB"


def max_known(sizes) -> int | None:
    """The largest of the sizes, None when any is unknown (a maximum over part of them would understate)."""
    sizes = list(sizes)
    return None if None in sizes else max(sizes)


def warehouse_bytes(warehouse: Path) -> int:
    """The warehouse file and its write-ahead log."""
    return sum(
        path.stat().st_size for path in (warehouse, warehouse.with_name(warehouse.name + ".wal")) if path.exists()
    )


def _build_in_this_process(request: dict) -> None:
    """The child's side of measure_build: one dbt_build, its outcome as JSON in the request's outcome file."""
    from siyu.transform import dbt_build

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = dbt_build(
        Path(request["lake"]),
        Path(request["warehouse"]),
        dbt_vars=request["dbt_vars"],
        skip_unchanged=request["skip_unchanged"],
        unit_tests=False,  # as the transform DAG calls it: unit tests run in CI
    )
    outcome = {
        "success": result.success,
        "skipped": result.skipped,
        "results": result.results,
        "peak_rss_bytes": peak_resident_bytes(),
    }
    Path(request["outcome"]).write_text(json.dumps({**outcome, "failures": result.failures}), encoding="utf-8")


def duckdb_memory_limit() -> str:
    """The memory limit the builds' DuckDB works within, as DuckDB states it: the duckdb target's
    `settings.memory_limit` in dbt_project/profiles.yml, rendered by dbt as a build renders it (its
    env_var default included), then set on a DuckDB connection and read back."""
    import duckdb
    import yaml
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    profiles = yaml.safe_load((REPO / "dbt_project" / "profiles.yml").read_text(encoding="utf-8"))
    set_invocation_context(os.environ)
    setting = ProfileRenderer({}).render_value(profiles["siyu"]["outputs"]["duckdb"]["settings"]["memory_limit"])
    with duckdb.connect() as connection:
        connection.execute(f"set memory_limit = '{setting}'")
        return f"{setting}, {connection.execute('select current_setting(?)', ['memory_limit']).fetchone()[0]}"


def peak_resident_bytes() -> int | None:
    """This process's peak resident memory since its exec (VmHWM in /proc/self/status; None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        return None
    return None


# --- the bench ------------------------------------------------------------------------------------------


def daily_root(scale: int) -> Path:
    return REPO / "data" / "bench" / f"daily-{scale}"


def bench_daily(
    scale: int,
    seed: int,
    runs: int = DAILY_RUNS,
    root: Path | None = None,
    benchmarks: Path | None = None,
    year: bool = True,
    year_memory_limit: str | None = YEAR_MEMORY_LIMIT,
) -> str:
    """The daily runs at `scale` persons, side by side in one run (module docstring), in `root` (default
    data/bench/daily-<scale>); returns the section, also written to `benchmarks` (default BENCHMARKS.md)
    before every build. The world is kept from an earlier run with the same scale and seed."""
    from siyu_sim.bench import BENCHMARKS, write_section
    from siyu_sim.server import RunningSimulators
    from siyu_sim.world.generate import generate
    from siyu_sim.world.spec import WorldSpec

    root = root or daily_root(scale)
    benchmarks = benchmarks or BENCHMARKS
    world, lake, drops = root / "world", root / "lake", root / "drops"
    meta = world / "world.json"
    if not meta.exists() or (json.loads(meta.read_text())["scale"], json.loads(meta.read_text())["seed"]) != (
        scale,
        seed,
    ):
        shutil.rmtree(world, ignore_errors=True)
        generate(WorldSpec(scale=scale, seed=seed), world)
    for folder in ("lake", "drops", "warehouse", "fresh", "year", "year-limited", "logs"):
        shutil.rmtree(root / folder, ignore_errors=True)
    days = json.loads(meta.read_text())["days"]
    first_daily = days - runs  # day D: the last `runs` days of the world are landed and built one by one
    stores = pd.read_parquet(world / "store" / "stores.parquet", columns=["counter_phone"])
    # The brand lists its stores' counter phones (var identity_shared_phones), as the pipeline bench does.
    dbt_vars = {"identity_shared_phones": sorted(stores["counter_phone"].dropna().unique().tolist())}
    warehouse = root / "warehouse" / "siyu.duckdb"
    landing: dict[str, float] = {}
    measured: dict[str, MeasuredBuild] = {}
    daily: list[MeasuredBuild] = []
    failed: dict[str, str] = {}

    def section(running: str | None = None) -> str:
        return daily_section(scale, seed, runs, landing, measured, daily, running, year_memory_limit, failed)

    def build(
        name: str, day_number: int, skip_unchanged: bool, into: Path = warehouse, environment: dict | None = None
    ) -> MeasuredBuild:
        write_section(f"daily-{scale}", section(running=name), benchmarks)
        day = date.fromisoformat(json.loads(meta.read_text())["start"]) + timedelta(days=day_number)
        log_file = root / "logs" / f"{name}.log"
        return measure_build(name, lake, into, day, dbt_vars, skip_unchanged, log_file, environment)

    with RunningSimulators(world) as sim:
        began = time.perf_counter()
        land_history(sim, world, lake, drops, first_daily - 1)
        landing["history (days 1 to D-1) in one pull"] = time.perf_counter() - began
        measured["full"] = build("full build as of D-1", first_daily - 1, skip_unchanged=False)
        day_seconds = []
        for number in range(first_daily, first_daily + runs):
            began = time.perf_counter()
            land_day(sim, world, lake, drops, number)
            day_seconds.append(time.perf_counter() - began)
            ordinal = number - first_daily + 1
            daily.append(build(f"daily run {ordinal}", number, skip_unchanged=True))
            if ordinal == 1:
                measured["no-change"] = build("no-change rerun", number, skip_unchanged=True)
        landing["one day, median of the daily landings"] = sorted(day_seconds)[len(day_seconds) // 2]
        measured["fresh"] = build(
            f"fresh full build as of day D+{runs - 1}",
            first_daily + runs - 1,
            skip_unchanged=False,
            into=root / "fresh" / "siyu.duckdb",
        )
        if year and runs > 1:
            # A year of daily history kept (issue 22's memory target): a full build with 365 days of segments,
            # as of the day before the last, then the last day's daily run on it. The lake already holds the
            # last day when the full build runs (its segments stop the day before).
            dbt_vars = {**dbt_vars, "segments_history_days": YEAR_DAYS}
            year_warehouse = root / "year" / "siyu.duckdb"
            measured["year"] = build(
                f"full build with {YEAR_DAYS} days of history as of day D+{runs - 2}",
                first_daily + runs - 2,
                skip_unchanged=False,
                into=year_warehouse,
            )
            measured["year-daily"] = build(
                f"daily run with {YEAR_DAYS} days kept (day D+{runs - 1})",
                first_daily + runs - 1,
                skip_unchanged=True,
                into=year_warehouse,
            )
            if year_memory_limit:
                # The same full build within a lower memory limit: DuckDB spills beyond it, or fails where
                # it cannot (recorded, not raised: the figures above stand).
                try:
                    measured["year-limited"] = build(
                        f"full build with {YEAR_DAYS} days of history, memory limit {year_memory_limit}",
                        first_daily + runs - 2,
                        skip_unchanged=False,
                        into=root / "year-limited" / "siyu.duckdb",
                        environment={"SIYU_DUCKDB_MEMORY_LIMIT": year_memory_limit},
                    )
                except RuntimeError as error:
                    failed["year-limited"] = str(error)
    return section()


def daily_section(
    scale: int,
    seed: int,
    runs: int,
    landing: dict[str, float],
    measured: dict[str, MeasuredBuild],
    daily: list[MeasuredBuild],
    running: str | None = None,
    year_memory_limit: str | None = None,
    failed: dict[str, str] | None = None,
) -> str:
    """The BENCHMARKS.md section from what was measured so far (written before every build, so a run
    stopped midway keeps its figures)."""
    command = f"python -m siyu_sim.bench --only daily --scale {scale}"
    full = measured.get("full")
    rows: list[tuple[str, MeasuredBuild]] = []
    if full:
        rows.append(("full build (lake to D-1)", full))
    if daily:
        rows.append(("daily run after one new day (day D)", daily[0]))
    if "no-change" in measured:
        rows.append(("no-change rerun (the same call again)", measured["no-change"]))
    if len(daily) > 1:
        rows.append((f"daily run {len(daily)} (day D+{len(daily) - 1})", daily[-1]))
    if "fresh" in measured:
        rows.append((f"fresh full build (lake to D+{len(daily) - 1}, new warehouse)", measured["fresh"]))
    if "year" in measured:
        rows.append(
            (f"full build, {YEAR_DAYS} days of history (as of D+{len(daily) - 2}, new warehouse)", measured["year"])
        )
    if "year-daily" in measured:
        rows.append(
            (
                f"daily run with {YEAR_DAYS} days kept (day D+{len(daily) - 1}, on that warehouse)",
                measured["year-daily"],
            )
        )

    if "year-limited" in measured:
        rows.append(
            (
                f"the same full build with DuckDB's memory limited to {year_memory_limit} "
                "(SIYU_DUCKDB_MEMORY_LIMIT, new warehouse)",
                measured["year-limited"],
            )
        )

    def ratio(value: float, base: float) -> str:
        return f"{value / base:.2f}" if base else "-"

    table = (
        "| run | wall s | CPU s | CPU vs full | wall vs full | peak RSS | warehouse file after |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        + "".join(
            f"| {label}{' (skipped)' if run.skipped else ''} | {run.wall_seconds:.1f} | {run.cpu_seconds:.1f} "
            f"| {ratio(run.cpu_seconds, full.cpu_seconds)} | {ratio(run.wall_seconds, full.wall_seconds)} "
            f"| {gigabytes(run.peak_rss_bytes)} | {run.warehouse_bytes / 1e6:,.0f} MB |\n"
            for label, run in rows
        )
    )
    body = (
        f"## Daily runs at {scale:,} persons\n\n"
        f"Measured {date.today()} on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()} by `{command}` (seed {seed}; `make bench` runs it at DAILY_SCALE).\n\n"
        "Method (siyu_sim.daily): the world's days up to D-1 landed in one pull on the morning of day D "
        "(WeCom snapshots and day D-1's statistics, every order and its buyers, the store files); then each day "
        f"from D (the world's {runs}th-last day) landed as the daily DAGs land it, on the simulators' clock a "
        "minute after the day: the WeCom snapshots and the day's statistics, the shop's orders updated in the "
        "day and the ingest's lookback and their new buyers, the day's store, archive and tracking files "
        "loaded by arrival; each landed day checked (every order the world had updated by the day's end is in "
        "the lake). "
        "Every build is `siyu.transform.dbt_build(..., unit_tests=False)` with snapshot_date the day built, "
        "the daily runs with `skip_unchanged=True` as the transform DAG calls it, each in its own child "
        "process: CPU seconds are that process's (os.wait4), peak RSS its own high-water mark (VmHWM), wall "
        "seconds include its start. DuckDB worked within its memory limit "
        f"({duckdb_memory_limit()}: SIYU_DUCKDB_MEMORY_LIMIT, else DuckDB's own 80% of the machine), "
        "spilling to disk beyond it. "
        "The machine was shared with other work, so wall times are upper bounds; CPU seconds are steadier.\n\n"
        + (table if rows else "")
        + (f"\n{running}: still running when this was written.\n" if running else "")
    )
    if failed and "year-limited" in failed:
        body += (
            f"\nThe full build with {YEAR_DAYS} days of history failed with DuckDB's memory limited to "
            f"{year_memory_limit}: {failed['year-limited']}\n"
        )
    if landing:
        body += "\nLanding: " + "; ".join(f"{name} {seconds:.1f} s" for name, seconds in landing.items()) + ".\n"
    if len(daily) > 1:
        cpu = sorted(run.cpu_seconds for run in daily)
        body += (
            f"\nAll {len(daily)} daily runs, CPU seconds: min {cpu[0]:.1f}, median {cpu[len(cpu) // 2]:.1f}, "
            f"max {cpu[-1]:.1f}; peak RSS max {gigabytes(max_known(run.peak_rss_bytes for run in daily))}.\n"
        )
    if full and daily and "no-change" in measured:
        first, last, unchanged = daily[0], daily[-1], measured["no-change"]
        fresh = measured.get("fresh")
        verdicts = [
            f"daily run ≤ 0.10 × full build (CPU): {first.cpu_seconds / full.cpu_seconds:.2f} "
            f"— {'met' if first.cpu_seconds <= 0.10 * full.cpu_seconds else 'not met'}",
            f"no-change rerun ≤ 0.05 × full (CPU): {unchanged.cpu_seconds / full.cpu_seconds:.2f} "
            f"— {'met' if unchanged.cpu_seconds <= 0.05 * full.cpu_seconds else 'not met'}",
        ]
        if len(daily) == runs > 1:
            verdicts.append(
                f"the {runs}th daily run no slower than the 1st (CPU): {last.cpu_seconds:.1f} s vs "
                f"{first.cpu_seconds:.1f} s — {'met' if last.cpu_seconds <= first.cpu_seconds else 'not met'}"
            )
        if fresh and len(daily) == runs:
            verdicts.append(
                f"warehouse file after {runs} daily runs ≤ 1.3 × a fresh full build of the same lake: "
                f"{last.warehouse_bytes / fresh.warehouse_bytes:.2f} "
                f"— {'met' if last.warehouse_bytes <= 1.3 * fresh.warehouse_bytes else 'not met'}"
            )
        year, year_daily = measured.get("year"), measured.get("year-daily")
        if year and year_daily and year.peak_rss_bytes and year_daily.peak_rss_bytes:
            per_million = 1_000_000 / scale
            verdicts.append(
                f"peak memory with {YEAR_DAYS} days of history kept, at {scale:,} persons: the daily run "
                f"{year_daily.peak_rss_bytes / 1e9:.2f} GB, a full build {year.peak_rss_bytes / 1e9:.2f} GB; "
                f"scaled linearly in persons to 1,000,000 (x{per_million:g}): "
                f"{year_daily.peak_rss_bytes * per_million / 1e9:.1f} GB and "
                f"{year.peak_rss_bytes * per_million / 1e9:.1f} GB "
                f"(target ≤ 12 GB; an extrapolation, not a measurement at 1,000,000, and an upper bound: "
                f"DuckDB's share stops at its limit, {duckdb_memory_limit()}, and spills beyond it)"
            )
        limited = measured.get("year-limited")
        if year and limited and limited.peak_rss_bytes:
            verdicts.append(
                f"the year's full build with DuckDB limited to {year_memory_limit}: peak "
                f"{gigabytes(limited.peak_rss_bytes)} (unlimited: {gigabytes(year.peak_rss_bytes)}), "
                f"{limited.cpu_seconds / year.cpu_seconds:.2f} × its CPU; the peak is the limit plus what is "
                "outside DuckDB's buffer manager (Python, dbt, the Python models)"
            )
        body += "\nTargets (issue 22), measured in this run:\n\n" + "".join(f"- {v}\n" for v in verdicts)
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description="siyu daily-run replay (the child side of the daily bench)")
    sub = parser.add_subparsers(dest="command", required=True)
    child = sub.add_parser("build", help="one measured build (siyu_sim.daily.measure_build)")
    child.add_argument("request", help="JSON: lake, warehouse, dbt_vars, skip_unchanged")
    args = parser.parse_args()
    if args.command == "build":
        _build_in_this_process(json.loads(args.request))


if __name__ == "__main__":
    main()
