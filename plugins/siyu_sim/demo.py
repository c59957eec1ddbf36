"""`make demo`: the main job as far as it goes. Generate the world, start the simulators, drop the
store and archive files, run the ingestion DAGs with `airflow dags test` against the simulators, and
summarise what landed in the lake next to the world's truth."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from siyu.lake import summary
from siyu.orchestration import AUDIENCES
from siyu.settings import connection_env
from siyu_sim.drops import write_archive, write_store_drops, write_visits
from siyu_sim.server import RunningSimulators, free_port
from siyu_sim.world.generate import FORMAT_VERSION, generate
from siyu_sim.world.spec import WorldSpec

log = logging.getLogger("siyu.demo")
REPO = Path(__file__).resolve().parents[2]
STEPS = 6
# Colour codes (ANSI CSI sequences) some tools write even into files: log files stay plain text.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# The transform's progress line (siyu.transform) inside `airflow dags test transform`'s output.
PROGRESS = re.compile(r"(dbt build: \d+(?:/\d+)? models done.*?)(?:\s+\[siyu\.transform\].*)?$")


class _SiyuOnly(logging.Filter):
    """The console shows siyu's own progress (and any error); third-party INFO and warnings (matplotlib,
    dbt, Great Expectations, Airflow) go to the log file only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] in ("siyu", "siyu_sim") or record.levelno >= logging.ERROR


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return ANSI.sub("", super().format(record))


def quiet_console(log_file: Path) -> None:
    """Route every log record to `log_file` (plain text) and only siyu's to the console (stderr)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    console.addFilter(_SiyuOnly())
    # Append mode after truncating: a handler in "w" mode never reopens once logging.config (uvicorn's, in
    # the simulators) has closed it, and the rest of the run would be lost.
    log_file.write_text("", encoding="utf-8")
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    to_file.setFormatter(_PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    root.addHandler(to_file)
    root.setLevel(min(root.level, logging.INFO) or logging.INFO)
    logging.captureWarnings(True)  # warnings.warn (pandas, pymc, matplotlib) into the file, not the console


def _step(number: int, message: str, *args) -> None:
    log.info(f"[{number}/{STEPS}] {message}", *args)


def _ensure_world(spec: WorldSpec, world_dir: Path) -> dict:
    """Reuse the world when it is the one asked for (scale, seed, generator version); otherwise generate it
    and clear what was landed and built from the previous one."""
    meta_path = world_dir / "world.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        wanted = (spec.scale, spec.seed, FORMAT_VERSION, spec.start.isoformat())
        if (meta["scale"], meta["seed"], meta.get("format_version"), meta.get("start")) == wanted:
            _step(1, "world already generated at %s (scale %d, seed %d)", world_dir, spec.scale, spec.seed)
            return meta
    for stale in ("world", "drops", "lake", "warehouse", "exports", "airflow", "report", "dbt_docs", "gx_docs"):
        shutil.rmtree(world_dir.parent / stale, ignore_errors=True)
    _step(1, "generating a world of %d persons (seed %d) into %s", spec.scale, spec.seed, world_dir)
    return generate(spec, world_dir)


def _other_world(spec: WorldSpec, world_dir: Path) -> str | None:
    """How the world already in world_dir differs from the one asked for; None when there is none or it is
    the same."""
    meta_path = world_dir / "world.json"
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    wanted = (spec.scale, spec.seed, FORMAT_VERSION, spec.start.isoformat())
    if (meta["scale"], meta["seed"], meta.get("format_version"), meta.get("start")) == wanted:
        return None
    from siyu.config import load_settings

    # end_ts is the midnight after the world's last day
    last = datetime.fromtimestamp(meta["end_ts"] - 1, load_settings().tz).date() if meta.get("end_ts") else "?"
    return f"ending {last} (scale {meta['scale']}, seed {meta['seed']})"


def _airflow_env(data_dir: Path, sim: RunningSimulators) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(data_dir / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(os.environ.get("SIYU_DAGS_DIR", REPO / "dags")).resolve()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "SIYU_LAKE_DIR": str(data_dir / "lake"),
        "SIYU_DROP_DIR": str(data_dir / "drops"),
        "SIYU_WAREHOUSE": str(data_dir / "warehouse" / "siyu.duckdb"),
        "SIYU_EXPORTS_DIR": str(data_dir / "exports"),
        # Only quality reports read the truth: identity precision and recall are measured against it.
        "SIYU_TRUTH_DIR": str(data_dir / "world" / "truth"),
        # Plain log files: no colour codes from Airflow's console logger or dbt (task logs, dbt.log).
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "NO_COLOR": "1",
        "DBT_USE_COLORS": "False",
        "DBT_USE_COLORS_FILE": "False",
    }
    env.update(connection_env(sim.base_url, sim.credentials))
    return env


def _airflow(args: list[str], env: dict, log_file: Path) -> float:
    """Run an airflow command, its output into log_file without colour codes, echoing the transform's
    progress lines to the console; fail loudly with the log's tail."""
    began = time.perf_counter()
    airflow = Path(sys.executable).parent / "airflow"
    with log_file.open("w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            [str(airflow), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        for line in process.stdout:
            plain = ANSI.sub("", line)
            handle.write(plain)
            progress = PROGRESS.search(plain.rstrip())
            if progress:
                log.info("      %s", progress.group(1))
        result = subprocess.CompletedProcess(args, process.wait())
    if result.returncode != 0:
        tail = "\n".join(log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        raise RuntimeError(f"`airflow {' '.join(args)}` failed (exit {result.returncode}); log {log_file}:\n{tail}")
    return time.perf_counter() - began


# What the demo summary reads from the warehouse, each model whole through siyu.warehouse (the dbt exposure
# `demo_summary` lists exactly these).
SUMMARY_MODELS = (
    "identity_quality",
    "rpt_orders_by_channel",
    "rpt_customer_distributions",
    "clv_calibration",
    "kpi_triangle",
    "kpi_community",
    "rpt_group_names",
    "audience_assignments",
    "audience_suppressions",
)
# The demo summary's distributions, in the order printed; clv has one row, labelled here.
DISTRIBUTIONS = ("rfm_segment", "lifecycle_stage", "ladder_rung", "clv")
GRADE_ORDER = "SABCDu"  # community grades best first, 'ungraded' last


def _read_summary(warehouse: Path) -> dict:
    """The summary's models, read once: identity_quality as a dict, the others as frames (None if missing)."""
    from siyu.warehouse import identity_quality, open_warehouse, read_models

    with open_warehouse(warehouse) as wh:
        frames = read_models(wh, SUMMARY_MODELS[1:])
        frames["identity_quality"] = identity_quality(wh)
    return frames


def _fit(text: str, width: int) -> str:
    """Text padded to a console width, Chinese characters counted as two columns."""
    import unicodedata

    shown, used = "", 0
    for character in str(text):
        size = 2 if unicodedata.east_asian_width(character) in "WF" else 1
        if used + size > width:
            break
        shown, used = shown + character, used + size
    return shown + " " * (width - used)


def _none_if_missing(value):
    return None if value is None or value != value else value


def _identity(frames: dict) -> tuple[dict, list]:
    orders = frames["rpt_orders_by_channel"].sort_values("channel")
    return frames["identity_quality"], list(orders[["channel", "orders", "gmv"]].itertuples(index=False, name=None))


def _segments(frames: dict) -> dict[str, list]:
    """Per distribution, rows of (Chinese label, English label, customers, value or None)."""
    rows = frames["rpt_customer_distributions"]
    found = {}
    for distribution in DISTRIBUTIONS:
        part = rows[rows["distribution"] == distribution].sort_values("category_order")
        if distribution == "clv":
            found["clv"] = [
                ("predicted 365-day value", "buyers", int(row.customers), _none_if_missing(row.expected_value))
                for row in part.itertuples()
            ]
        else:
            found[distribution] = [
                (row.label_zh, row.label_en, int(row.customers), _none_if_missing(row.mean_monetary))
                for row in part.itertuples()
            ]
    return found


def _kpis(frames: dict) -> dict:
    triangles, community = frames["kpi_triangle"], frames["kpi_community"]
    monthly = triangles[triangles["period_grain"] == "month"]
    month = monthly["period_start"].max()
    columns = [
        "connected_users", "reach_capability", "ownership_power", "repurchase_rate", "ltv_per_customer",
        "value_index", "referrals_per_active", "inviter_share", "referral_index", "ownership_score",
        "value_score", "referral_score", "triangle_area",
    ]  # fmt: skip
    triangle = monthly[(monthly["period_start"] == month) & (monthly["store_id"] == "all")].iloc[0][columns].to_dict()
    groups = community[(community["period_grain"] == "month") & (community["period_start"] == month)]
    counts = groups["grade"].value_counts(dropna=False)
    grades = sorted(counts.items(), key=lambda item: GRADE_ORDER.find(str(item[0])[:1]))
    # Best and worst by the grade the KPIs give (S best), then GMV; named as the guides name the groups.
    names = frames["rpt_group_names"]
    named = groups[groups["members"] > 0].copy()
    if names is not None:
        named = named.merge(names[["chat_id", "group_name"]].drop_duplicates("chat_id"), on="chat_id", how="left")
    else:
        named["group_name"] = None
    named["group_name"] = named["group_name"].fillna(named["chat_id"])
    named["grade_rank"] = named["grade"].map(lambda grade: GRADE_ORDER.find(str(grade)[:1]) % len(GRADE_ORDER))
    ranked = named.sort_values(["grade_rank", "gmv", "chat_id"], ascending=[True, False, True])
    ranked = [
        (row.group_name, int(row.members), _none_if_missing(row.activity_rate),
         _none_if_missing(row.visitor_pay_conversion), row.gmv, row.grade)
        for row in ranked.itertuples()
    ]  # fmt: skip
    return {"month": month, "triangle": triangle, "grades": grades, "best": ranked[:3], "worst": ranked[-3:]}


def _print_kpis(kpis: dict) -> None:
    t = kpis["triangle"]
    print(f"  private-domain triangle, {kpis['month']:%Y-%m} (all stores; scores against the brand targets)")
    print(
        f"    ownership  {t['connected_users']:>8,.0f} connected x reach {t['reach_capability']:.2f}"
        f" = {t['ownership_power']:>10,.0f}   score {t['ownership_score']:.2f}"
    )
    print(
        f"    value      repurchase {t['repurchase_rate']:.2f} x LTV {t['ltv_per_customer']:>7,.0f}"
        f" = {t['value_index']:>10,.1f}   score {t['value_score']:.2f}"
    )
    print(
        f"    referral   {t['referrals_per_active']:.3f} per active x {t['inviter_share']:.3f} inviters"
        f" = {t['referral_index']:.5f}   score {t['referral_score']:.2f}"
    )
    print(f"    triangle area {t['triangle_area']:.3f}")
    print("  community grades this month: " + ", ".join(f"{grade} {count}" for grade, count in kpis["grades"]))
    for title, rows in (("best", kpis["best"]), ("worst", kpis["worst"])):
        print(f"  {title} communities (members, activity, pay conversion, GMV, grade)")
        for name, members, activity, conversion, gmv, grade in rows:
            activity_text = "-" if activity is None else f"{activity:.0%}"
            conversion_text = "-" if conversion is None else f"{conversion:.0%}"
            print(f"    {_fit(name, 32)} {members:>5} {activity_text:>5} {conversion_text:>5} {gmv:>10,.0f} {grade}")


def _audiences(frames: dict, exports: Path) -> tuple[list[tuple], dict]:
    sizes = frames["audience_assignments"]["audience"].value_counts().to_dict()
    suppressed = frames["audience_suppressions"].groupby("reason", dropna=False)["customer_id"].nunique().to_dict()
    rows = []
    for audience in AUDIENCES:
        manifests = sorted((exports / audience).glob("*/_manifest.json"))
        exported = json.loads(manifests[-1].read_text(encoding="utf-8"))["rows"] if manifests else 0
        rows.append((audience, sizes.get(audience, 0), exported, manifests[-1].parent if manifests else None))
    return rows, suppressed


def _pad(text: str, width: int) -> str:
    """Left-justify for a terminal: CJK characters take two columns."""
    shown = sum(2 if ord(char) >= 0x2E80 else 1 for char in text)
    return text + " " * max(width - shown, 0)


def _clv_calibration(frames: dict) -> dict | None:
    """The 'all' row of marts.clv_calibration (the CLV model fitted before a holdout, against what the
    holdout then held), or None when the warehouse has no such mart."""
    frame = frames["clv_calibration"]
    if frame is None:
        return None
    rows = frame[frame["frequency_bucket"] == "all"]
    return None if rows.empty else rows.iloc[0].to_dict()


def _print_clv_calibration(row: dict | None) -> None:
    if row is None:
        print("  calibration: no marts.clv_calibration in this warehouse")
        return
    print(
        f"  calibration {row['calibration_end']:%Y-%m-%d}, holdout to {row['holdout_end']:%Y-%m-%d}:"
        f" {row['expected_repeat_purchases']:.2f} expected vs {row['actual_repeat_purchases']:.2f} actual"
        f" repeat purchases per customer ({row['customers']:,} customers)"
    )


def _print_segments(segments: dict[str, list]) -> None:
    titles = {
        "rfm_segment": "RFM segments (customers, mean monetary)",
        "lifecycle_stage": "lifecycle stages",
        "ladder_rung": "relationship ladder",
        "clv": "lifetime value (pymc-marketing BG/NBD + Gamma-Gamma)",
    }
    for name, rows in segments.items():
        print(f"  {titles[name]}")
        for zh, en, count, value in rows:
            label = f"{zh} {en}"
            extra = "" if value is None else f" {value:>14,.0f}"
            print(f"    {_pad(label, 40)} {count:>10,}{extra}")


def run_demo(scale: int, seed: int, data_dir: Path) -> int:
    began = time.perf_counter()
    data_dir = data_dir.resolve()
    quiet_console(data_dir / "logs" / "demo.log")
    spec = WorldSpec(scale=scale, seed=seed)
    world_dir = data_dir / "world"
    meta = _ensure_world(spec, world_dir)
    drops_dir = data_dir / "drops"
    _step(2, "writing a year of store CSV drops and session-archive files into %s", drops_dir)
    store = write_store_drops(world_dir, drops_dir)
    archive = write_archive(world_dir, drops_dir)
    write_visits(world_dir, drops_dir)
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # The simulated clock stands a minute after the last midnight: the daily runs ingest the last day.
    with RunningSimulators(world_dir, now=meta["end_ts"] + 60) as sim:
        _step(3, "WeCom and Youzan simulators serving at %s", sim.base_url)
        env = _airflow_env(data_dir, sim)
        _step(4, "preparing Airflow metadata (SQLite) in %s", env["AIRFLOW_HOME"])
        _airflow(["db", "migrate"], env, logs / "airflow_db_migrate.log")
        _step(5, "running the ingestion DAGs, the dbt transform and activation (logs in %s)", logs)
        logical_date = "2026-01-01T00:00:00+08:00"
        runs = [
            ("ingest_shop", ["-c", json.dumps({"start": "2025-01-01 00:00:00", "end": "2026-01-01 00:01:00"})]),
            ("ingest_wecom", []),
            ("ingest_store", []),
            ("transform", []),
            ("activate_audiences", []),
        ]
        timings = {}
        for dag_id, extra in runs:
            timings[dag_id] = _airflow(["dags", "test", dag_id, logical_date, *extra], env, logs / f"{dag_id}.log")
            log.info("      %-13s succeeded in %5.1fs", dag_id, timings[dag_id])
    _step(6, "rendering the analyst report and dbt docs, then summarising")
    from siyu.report import render
    from siyu.transform import dbt_docs

    report = render(data_dir / "warehouse" / "siyu.duckdb", data_dir / "report")
    docs = dbt_docs(data_dir / "lake", data_dir / "warehouse" / "siyu.duckdb", data_dir / "dbt_docs")
    lake = summary(data_dir / "lake")
    frames = _read_summary(data_dir / "warehouse" / "siyu.duckdb")
    quality, customers = _identity(frames)
    headline = json.loads((world_dir / "truth/headline.json").read_text(encoding="utf-8"))

    print("\n================ siyu demo summary ================")
    print(f"world   {world_dir}  ({meta['scale']:,} persons, seed {meta['seed']}, {spec.start} + {spec.days} days)")
    print(f"drops   {drops_dir}  ({store['files']:,} store files, {archive['files']} archive days)")
    print(f"lake    {data_dir / 'lake'}")
    print(f"  {'source/entity':<32} {'partitions':>10} {'rows':>10} {'quarantined':>12}")
    for row in lake:
        print(
            f"  {row['source'] + '/' + row['entity']:<32} {row['partitions']:>10,} {row['rows']:>10,} "
            f"{row['quarantined']:>12,}"
        )
    print("truth (read by quality checks only)")
    orders = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))["tables"]["shop/orders"]
    print(
        f"  {'shop orders in the world / in the lake':<44} {orders:>8,} / "
        f"{next(r['rows'] for r in lake if r['entity'] == 'orders'):,}"
    )
    for key in ("buyers_any", "wecom_friends_live", "group_speakers", "gmv_online", "gmv_store"):
        print(f"  {key:<44} {headline[key]:>14,.0f}")
    print(f"warehouse {data_dir / 'warehouse' / 'siyu.duckdb'}")
    print(f"  {'customers unified (dim_customers)':<44} {quality['customers']:>10,}")
    print(f"  {'true persons behind the evaluated identifiers':<44} {quality['true_persons']:>10,}")
    print(
        f"  {'identity pairwise precision / recall / F1':<44} {quality['pairwise_precision']:.3f} / "
        f"{quality['pairwise_recall']:.3f} / {quality['pairwise_f1']:.3f}"
    )
    print(f"  {'largest cluster (identifiers)':<44} {quality['largest_cluster']:>10,}")
    print(f"  {'values excluded by merge protection':<44} {quality['excluded_values']:>10,}")
    for channel, orders_count, gmv in customers:
        print(f"  {'orders / GMV ' + channel:<44} {orders_count:>10,} {gmv:>14,.0f}")
    print("segments (schema marts)")
    _print_segments(_segments(frames))
    _print_clv_calibration(_clv_calibration(frames))
    print("KPIs (schema marts)")
    _print_kpis(_kpis(frames))
    audiences, suppressed = _audiences(frames, data_dir / "exports")
    print(f"audiences (schema audiences) exported to {data_dir / 'exports'}")
    for audience, size, exported, folder in audiences:
        print(f"  {audience:<22} {size:>8,} customers, {exported:>8,} exported  {folder or '-'}")
    print("  suppressed: " + ", ".join(f"{reason} {count:,}" for reason, count in sorted(suppressed.items())))
    print("Airflow  " + ", ".join(f"{dag} {seconds:.0f}s" for dag, seconds in timings.items()))
    print(f"report   {report}")
    print(f"dbt docs {docs}  (one file; or served: siyu docs --serve --data-dir {data_dir})")
    print(f"logs     {logs}  (Airflow, dbt, Great Expectations and libraries' messages)")
    print(f"done in {time.perf_counter() - began:.1f}s")
    return 0


def _announce_when_up(process: subprocess.Popen, base_url: str, timeout: float = 900) -> None:
    """Log once Airflow's API answers (or that the standalone stopped): the console's sign to open the UI."""
    import httpx

    began = time.monotonic()
    while process.poll() is None and time.monotonic() - began < timeout:
        try:
            if httpx.get(f"{base_url}/api/v2/monitor/health", timeout=5).status_code == 200:
                log.info("Airflow is up: %s (%.0f s)", base_url, time.monotonic() - began)
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    if process.poll() is not None:
        log.error("Airflow standalone stopped (exit %s): see its log under logs/", process.returncode)


def world_ending(last_day: date, scale: int, seed: int) -> WorldSpec:
    """A year-long world whose last day is `last_day`, so the simulators' clock and the scheduler's agree."""
    days = WorldSpec(scale=scale, seed=seed).days
    return WorldSpec(scale=scale, seed=seed, start=last_day - timedelta(days=days - 1))


def run_airflow(
    scale: int,
    seed: int,
    data_dir: Path,
    port: int = 8080,
    host: str = "127.0.0.1",
    parallelism: int = 4,
    fresh: bool = False,
) -> int:
    """`make airflow`: Airflow standalone (api-server, scheduler, dag-processor, triggerer) with siyu's
    DAGs, connections pointing at the simulators, and the demo's folders; every local user is an admin
    (simple auth manager), so the UI opens without a password. Ctrl-C stops it all.

    The world generated for it ends yesterday (brand time zone) and the simulators' clock stands at this
    morning, so a scheduled run, a run triggered with no date and a backfill of recent days all ask the
    simulators for days they have."""
    from siyu.config import load_settings

    data_dir = data_dir.resolve()
    world_dir = data_dir / "world"
    yesterday = datetime.now(load_settings().tz).date() - timedelta(days=1)
    spec = world_ending(yesterday, scale, seed)
    if not fresh and (kept := _other_world(spec, world_dir)):
        # An instance from another day (or a demo folder) holds a lake, a warehouse, exports and Airflow
        # metadata someone may still want: never deleted without being asked.
        log.error(
            "%s holds a world %s, not the one this instance needs (ending %s, scale %d, seed %d): "
            "pass --fresh to replace it (its lake, warehouse, exports and Airflow metadata are deleted), "
            "or --data-dir another folder",
            data_dir,
            kept,
            yesterday,
            scale,
            seed,
        )
        return 2
    meta = _ensure_world(spec, world_dir)
    drops_dir = data_dir / "drops"
    if not (drops_dir / "tracking").exists():
        write_store_drops(world_dir, drops_dir)
        write_archive(world_dir, drops_dir)
        write_visits(world_dir, drops_dir)
    with RunningSimulators(world_dir, now=meta["end_ts"] + 60) as sim:
        env = _airflow_env(data_dir, sim)
        base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        env.update(
            {
                # standalone starts its components as `airflow ...` from PATH: the venv's comes first.
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": host,
                "AIRFLOW__API__PORT": str(port),
                # Tasks reach the API server's execution API here, not at the default localhost:8080
                # (which on another port is nothing, or another Airflow).
                "AIRFLOW__API__BASE_URL": base_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
                # SQLite metadata on a small machine can answer a task's start call slowly: wait for it
                # rather than fail the attempt.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                # LocalExecutor starts one worker per parallelism slot; siyu's DAGs run at most 4 tasks at once.
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
                # The worker and triggerer log servers listen on all interfaces at fixed ports (8793, 8794):
                # free ports instead, so two instances on one machine do not share them.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                # Naive dates (e.g. a backfill's from/to) read in the brand's time zone, not UTC.
                "AIRFLOW__CORE__DEFAULT_TIMEZONE": load_settings().timezone,
                # A signing key for the API's tokens as long as SHA-512 wants (the standalone's generated one
                # is 24 bytes, and PyJWT warns on every token); new at each start, shared by its components.
                "AIRFLOW__API_AUTH__JWT_SECRET": env.get("AIRFLOW__API_AUTH__JWT_SECRET") or secrets.token_hex(64),
            }
        )
        last_day = meta["start"] and (date.fromisoformat(meta["start"]) + timedelta(days=meta["days"] - 1))
        logs = data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        standalone_log = logs / "airflow_standalone.log"
        for line in (
            f"simulators at {sim.base_url}; the world's last day is {last_day} (yesterday)",
            f"Airflow UI at {base_url} (Ctrl-C stops everything); Airflow's own output: {standalone_log}",
            "transform and activate_audiences are unpaused: they run when the ingestion DAGs publish",
            "unpause ingest_wecom, ingest_shop and ingest_store with the toggle (README: the shop's history first):",
            f"  each ingests yesterday ({last_day}); for another day set the 'day' param when triggering",
        ):
            log.info(line)
        airflow = str(Path(sys.executable).parent / "airflow")

        def stop(signum, _frame):
            raise KeyboardInterrupt(signal.Signals(signum).name)

        # Ctrl-C and `kill` (SIGTERM: systemd, docker stop) both stop the whole standalone, never leave its
        # scheduler running on its own. The handlers are set before the child starts, so it begins with
        # Python's own SIGINT handling even when a shell started us in the background with SIGINT ignored;
        # it runs in its own process group, which is signalled as a whole.
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        # The standalone's components print thousands of lines (every task log, every scheduler loop): into
        # a file, and the console says when the UI answers.
        with standalone_log.open("a", encoding="utf-8") as output:
            process = subprocess.Popen(
                [airflow, "standalone"], env=env, start_new_session=True, stdout=output, stderr=subprocess.STDOUT
            )
        try:
            _announce_when_up(process, base_url)
            return process.wait()
        except KeyboardInterrupt:
            log.info("stopping Airflow (waiting for its components to exit)")
            for signum, grace in ((signal.SIGINT, 60), (signal.SIGTERM, 30), (signal.SIGKILL, 10)):
                try:
                    os.killpg(process.pid, signum)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    log.warning("Airflow still running %d s after %s", grace, signal.Signals(signum).name)
            with contextlib.suppress(ProcessLookupError):  # components the standalone left behind in its group
                os.killpg(process.pid, signal.SIGKILL)
            return 0
