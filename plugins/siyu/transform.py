"""Run the dbt project: `dbt build` in-process through dbt's programmatic runner, with the lake, warehouse,
privacy and truth locations passed as vars of the call (profiles.yml and macros/locations.sql read them), so
a build changes nothing in the process: not dbt-duckdb's state, and of os.environ only SIYU_SNAPSHOT_DATE for
the call's duration (the day built: an environment variable lets dbt reuse its last parse)."""

from __future__ import annotations

import logging
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
SNAPSHOT_ENV = "SIYU_SNAPSHOT_DATE"


def warehouse_path() -> Path:
    """SIYU_WAREHOUSE, default ./data/warehouse/siyu.duckdb."""
    return Path(os.environ.get("SIYU_WAREHOUSE", "data/warehouse/siyu.duckdb"))


def locations(lake: Path, warehouse: Path, truth: Path | None = None) -> dict[str, str]:
    """The vars naming where one dbt call reads and writes (profiles.yml, macros/locations.sql), absolute:
    the lake, the warehouse, the privacy folder beside the lake (siyu.pseudonyms.privacy_dir) and the
    world's truth ('' when there is none, whatever SIYU_TRUTH_DIR says)."""
    from siyu.pseudonyms import privacy_dir

    return {
        "lake_dir": str(Path(lake).resolve()),
        "warehouse_path": str(Path(warehouse).resolve()),
        "privacy_dir": str(privacy_dir(Path(lake)).resolve()),
        "truth_dir": str(Path(truth).resolve()) if truth is not None else "",
    }


@dataclass
class BuildResult:
    success: bool
    results: dict[str, int]  # status -> count
    failures: list[str]
    skipped: bool = False  # nothing changed since the last build (skip_unchanged)


class LakeNotReady(RuntimeError):
    """A raw entity the models read has no partition yet."""


def missing_entities(lake: Path, sources: tuple[str, ...] | None = None) -> list[str]:
    """Raw entities of the brand's sources (default: SIYU_SOURCES / SIYU_CONFIG) with no partition yet."""
    from siyu.config import load_settings
    from siyu.orchestration import RAW_ENTITIES

    sources = load_settings().sources if sources is None else sources
    return [
        f"{source}/{entity}"
        for source in sources
        for entity in RAW_ENTITIES[source]
        if not any((Path(lake) / "raw" / source / entity).glob("dt=*/part-0.parquet"))
    ]


def dbt_build(
    lake: Path,
    warehouse: Path,
    truth: Path | None = None,
    select: str | None = None,
    extra_args: list[str] | None = None,
    dbt_vars: dict | None = None,
    skip_unchanged: bool = False,
    unit_tests: bool = True,
) -> BuildResult:
    """Build (models and tests). DuckDB allows one writer per file, so this is the only writer.
    The brand's settings (siyu.config) become dbt vars; `dbt_vars` adds a run's own (e.g. snapshot_date).
    With `skip_unchanged`, a whole-project build whose inputs (siyu.build_inputs: lake partitions, settings,
    project, privacy files, activation sends) equal the last successful build's does nothing and returns
    `skipped`. `unit_tests=False` leaves dbt's unit tests out (they test the SQL, which CI does; a daily run
    keeps the data tests, which guard the day's data)."""

    import yaml

    from siyu.config import dbt_vars as settings_vars
    from siyu.config import load_settings
    from siyu.lake import recover
    from siyu.orchestration import RAW_ENTITIES

    settings = load_settings()
    extra_args = list(extra_args or [])
    if "--vars" in extra_args:  # a caller's --vars joins the settings' instead of replacing them
        at = extra_args.index("--vars")
        dbt_vars = {**(dbt_vars or {}), **yaml.safe_load(extra_args[at + 1])}
        del extra_args[at : at + 2]
    recover(lake)  # a partition an interrupted write renamed away is back before dbt lists the lake
    # The transform runs on what exists: an entity with no partition builds empty (macro raw_source), so a
    # store brand with receipts and members but no archive yet still builds. Only an empty lake is refused.
    missing = missing_entities(lake, settings.sources)
    expected = sum(len(RAW_ENTITIES[source]) for source in settings.sources)
    if len(missing) == expected:
        raise LakeNotReady(
            f"no raw data yet in {lake} for any of the brand's sources ({','.join(settings.sources)}): "
            "run the ingestion DAGs or `siyu import` first"
        )
    if missing:
        log.warning("no raw data yet for %s: their models build empty", ", ".join(missing))
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    build_vars = {**settings_vars(settings, dbt_vars), **locations(lake, warehouse, truth)}
    # The day built reaches dbt as SIYU_SNAPSHOT_DATE (macro snapshot_date), not as a var: dbt parses the
    # whole project again whenever any var differs from the last parse, and this one changes every day.
    day = build_vars.pop("snapshot_date", None)
    with snapshot_environment(day):
        if settings.engine == "spark":
            return _spark_build(lake, warehouse, build_vars, missing, select, extra_args, unit_tests)
        return _duckdb_build(lake, warehouse, truth, build_vars, day, select, extra_args, skip_unchanged, unit_tests)


@contextmanager
def snapshot_environment(day):
    """SIYU_SNAPSHOT_DATE set to `day` ('' for none: the latest paid order's day) for one dbt call, then
    as it was."""
    before = os.environ.get(SNAPSHOT_ENV)
    os.environ[SNAPSHOT_ENV] = str(day or "")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SNAPSHOT_ENV, None)
        else:
            os.environ[SNAPSHOT_ENV] = before


def _duckdb_build(
    lake: Path,
    warehouse: Path,
    truth: Path | None,
    build_vars: dict,
    day,
    select: str | None,
    extra_args: list[str],
    skip_unchanged: bool,
    unit_tests: bool,
) -> BuildResult:
    import json

    from dbt.cli.main import dbtRunner

    args = [
        "build",
        # Plain text in task logs and dbt.log: colour codes are noise in a file.
        "--no-use-colors",
        "--no-use-colors-file",
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(Path(warehouse).resolve().parent / "dbt_target"),
        "--vars",
        json.dumps(build_vars, ensure_ascii=False, default=str),
        *extra_args,
    ]
    if select:
        args += ["--select", select]
    # Only a whole-project build records its inputs, and only a plain one may be skipped (a --full-refresh
    # or any other option asks for work).
    whole = select is None and not extra_args
    # The build's inputs as its vars were before the day was taken out of them.
    read_vars = build_vars if day is None else {**build_vars, "snapshot_date": day}
    inputs = _inputs(lake, warehouse, read_vars, truth) if whole else None
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if skip_unchanged and inputs is not None:
        from siyu.build_inputs import changed_since_last_build, last_build_time

        changed = changed_since_last_build(warehouse, inputs)
        if changed == []:
            log.info(
                "dbt build skipped: nothing changed since the last build at %s (the same lake partitions, "
                "settings, dbt project, privacy files and activation sends)",
                last_build_time(warehouse),
            )
            return BuildResult(success=True, results={}, failures=[], skipped=True)
        if changed:
            log.info("dbt build: changed since the last build: %s", ", ".join(changed))
    logged_errors: list[str] = []
    callbacks = [_collect_errors(logged_errors), BuildProgress(whole_project=select is None), _checkpoint_after_models]
    try:
        result = dbtRunner(callbacks=callbacks).invoke(args)
    finally:
        _release_database()
    _drop_temporary_relations(Path(warehouse))
    if result.success:
        _compact_when_bloated(Path(warehouse))
    statuses: dict[str, int] = {}
    failures: list[str] = []
    _collect_results(result, logged_errors, statuses, failures)
    log.info("dbt build: %s", statuses)
    if result.success and inputs is not None:
        from siyu.build_inputs import remember

        remember(warehouse, inputs)
    return BuildResult(success=bool(result.success), results=statuses, failures=failures)


def _spark_build(
    lake: Path,
    warehouse: Path,
    build_vars: dict,
    missing: list[str],
    select: str | None,
    extra_args: list[str],
    unit_tests: bool,
) -> BuildResult:
    """The build on Spark (settings engine `spark`; docs/spark.md): the profile's `spark` target, its tables
    under the Spark folder (siyu.warehouse.spark.spark_dir). A whole-project build runs in three steps in this
    process: dbt builds everything but the Python models and what reads them; siyu.spark_steps runs the Python
    models (CLV) on the Spark session dbt started; dbt builds the rest. Spark cannot list files in SQL, so
    the entities with no partition and the privacy files that exist come as vars. The no-change skip, the
    temporary-relation clean-up and compaction are DuckDB's, not done here."""
    import json

    from dbt.cli.main import dbtRunner

    from siyu.pseudonyms import privacy_dir
    from siyu.spark_steps import DOWNSTREAM, PYTHON_MODELS, run_python_models
    from siyu.warehouse.spark import (
        connect,
        method,
        pseudonym_pad_environment,
        session,
        set_pseudonym_pads,
        spark_dir,
        target,
    )

    folder = spark_dir(warehouse)
    folder.mkdir(parents=True, exist_ok=True)
    secrets: dict[str, str] = {}
    if method() == "session":
        # The session dbt-spark joins (getOrCreate), started here so the pseudonym key's pads are set on it.
        set_pseudonym_pads(session(folder), lake)
    else:  # a Thrift server: the profile's spark_thrift target sets the pads on each session it opens
        connect(folder).close()  # unreachable: SparkUnavailable in one line, before dbt retries and fails
        secrets = pseudonym_pad_environment(lake)
    privacy = privacy_dir(Path(lake)).resolve()
    build_vars = {
        **build_vars,
        "spark_dir": str(folder),
        "raw_entities_missing": missing,
        "existing_files": [str(path) for path in sorted(privacy.glob("*.parquet"))],
    }
    target_path = folder / "dbt_target"
    args = ["build", "--target", target(), "--no-use-colors", "--no-use-colors-file"]
    args += ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR), "--target-path", str(target_path)]
    args += ["--vars", json.dumps(build_vars, ensure_ascii=False, default=str), *extra_args]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    # A selection: the same three steps, limited to it, when it holds a Python model; else one invocation.
    selected = _selected_models(args, select) if select else None
    if selected is not None and not selected & set(PYTHON_MODELS):
        steps = [[*args, "--select", select]]
    elif selected is not None:
        later = sorted(selected & _selected_models(args, DOWNSTREAM))
        steps = [[*args, "--select", select, "--exclude", DOWNSTREAM], [*args, "--select", " ".join(later)]]
    else:
        steps = [[*args, "--exclude", DOWNSTREAM], [*args, "--select", DOWNSTREAM]]
    statuses: dict[str, int] = {}
    failures: list[str] = []
    for number, step in enumerate(steps):
        if number == 1:  # between the two invocations: the Python models, on the session dbt started
            log.info("dbt build (spark): running the Python models (siyu.spark_steps)")
            try:
                spark = connect(folder)
                try:
                    run_python_models(spark, PROJECT_DIR, target_path / "manifest.json", "--full-refresh" in extra_args)
                finally:
                    spark.close()
            except Exception as error:
                log.exception("dbt build (spark): the Python models failed")
                failures.append(f"spark step: {error}")
                break
        logged_errors: list[str] = []
        saved = {name: os.environ.get(name) for name in secrets}
        os.environ.update(secrets)
        try:
            result = dbtRunner(callbacks=[_collect_errors(logged_errors), BuildProgress(False)]).invoke(step)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        _collect_results(result, logged_errors, statuses, failures)
        if not result.success:
            break
    log.info("dbt build (spark): %s", statuses)
    return BuildResult(success=not failures, results=statuses, failures=failures)


def _collect_results(result, logged_errors: list[str], statuses: dict[str, int], failures: list[str]) -> None:
    """Add one dbt invocation's outcome to `statuses` (count per status) and `failures` (each failing node
    with its message, or why dbt stopped, or the errors it logged)."""
    found: list[str] = []
    for node_result in result.result or []:  # models, tests and the on-run-start/end hooks
        status = str(node_result.status)
        statuses[status] = statuses.get(status, 0) + 1
        if status in ("error", "fail"):
            found.append(f"{node_result.node.name}: {node_result.message}")
    if result.exception is not None:  # dbt stopped before or between nodes: a lock, a connection, the project
        found.append(f"dbt stopped: {result.exception}")
    if not result.success and not found:
        found = logged_errors or ["dbt build failed without naming a node or an error (see dbt.log)"]
    failures.extend(found)


def _selected_models(build_args: list[str], select: str) -> set[str]:
    """The names of the models and tests a dbt selection picks (`dbt ls`, which opens no connection)."""
    from dbt.cli.main import dbtRunner

    keep = ("--target", "--project-dir", "--profiles-dir", "--target-path", "--vars")
    args = ["ls", "--quiet", "--output", "name", "--select", select]
    for flag in keep:
        args += [flag, build_args[build_args.index(flag) + 1]]
    result = dbtRunner().invoke(args)
    if not result.success:
        raise RuntimeError(f"dbt ls --select {select!r} failed: {result.exception}")
    return set(result.result or [])


def _inputs(lake: Path, warehouse: Path, build_vars: dict, truth: Path | None) -> dict[str, str] | None:
    """The build's inputs (siyu.build_inputs), read before dbt starts; None when they cannot be read (the
    build then runs and records nothing)."""
    from siyu.build_inputs import fingerprint, last_as_of

    try:
        return fingerprint(lake, warehouse, build_vars, truth, sends_before=last_as_of(warehouse))
    except Exception as error:  # a locked warehouse, an unreadable file: never a reason not to build
        log.warning("dbt build: could not read what the build depends on (%s): building", error)
        return None


class BuildProgress:
    """A dbt event callback logging the build's progress (siyu.transform, INFO): models done out of the
    project's models, and nodes (models, tests, seeds) done out of the build's, at each tenth of the nodes
    and at most once a minute otherwise, so a long build is never silent and its log stays short."""

    def __init__(self, whole_project: bool, every_seconds: float = 60.0):
        self.whole_project = whole_project
        self.every_seconds = every_seconds
        self.models_total: int | None = None
        self.nodes_total = 0
        self.models_done = self.nodes_done = 0
        self.reported_tenth = 0
        self.reported_at = time.monotonic()

    def __call__(self, event) -> None:
        name = event.info.name
        if name == "FoundStats" and self.whole_project:
            found = re.search(r"(\d+) models?\b", event.data.stat_line)
            self.models_total = int(found.group(1)) if found else None
        elif name == "ConcurrencyLine":
            self.nodes_total = event.data.node_count
        elif name == "NodeFinished":
            kind = event.data.node_info.resource_type
            if kind == "unit_test":  # dbt's node count (ConcurrencyLine) leaves unit tests out
                return
            self.nodes_done += 1
            if kind == "model":
                self.models_done += 1
            tenth = 10 * self.nodes_done // max(self.nodes_total, 1)
            now = time.monotonic()
            if tenth > self.reported_tenth or now - self.reported_at >= self.every_seconds:
                self.reported_tenth, self.reported_at = tenth, now
                log.info("%s", self.line())

    def line(self) -> str:
        models = f"{self.models_done}/{self.models_total}" if self.models_total else str(self.models_done)
        return f"dbt build: {models} models done, {self.nodes_done}/{self.nodes_total} nodes with tests"


def _checkpoint_after_models(event) -> None:
    """A dbt event callback: CHECKPOINT the warehouse after each model, so the blocks of the tables a build
    replaced are free for the next model to reuse. DuckDB frees a dropped table's blocks only at a
    checkpoint, and a bulk write leaves too little in the write-ahead log to trigger one, so without it
    every table a daily run rewrote added to the file (358 -> 581 MB at 100,000 persons, compacted after
    every run; with it 427 MB, 14% free, no compaction). Best effort: DuckDB refuses while another thread's
    write is open, and the next model's checkpoint frees what this one could not."""
    if event.info.name != "NodeFinished" or event.data.node_info.resource_type != "model":
        return
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    try:
        cursor = DuckDBConnectionManager.env().conn.cursor()
        try:
            cursor.execute("checkpoint")
        finally:
            cursor.close()
    except Exception as error:  # best effort, see the docstring
        log.debug("dbt build: no checkpoint after %s: %s", event.data.node_info.unique_id, error)


def _collect_errors(errors: list[str]):
    """A dbt event callback keeping the text of error-level events: where dbt tells a failure that has no
    node result, when it has no exception to return either."""

    def collect(event) -> None:
        if event.info.level == "error" and event.info.msg.strip():
            errors.append(event.info.msg.strip())

    return collect


def _drop_temporary_relations(warehouse: Path) -> list[str]:
    """Drop the `__dbt_tmp` relations a build leaves (siyu.warehouse.maintenance). Runs after the dbt command
    closed its connections, so it is the only one."""
    from siyu.warehouse.maintenance import drop_temporary_relations

    dropped = drop_temporary_relations(warehouse)
    if dropped:
        log.info("dbt build: dropped %d temporary relations dbt left: %s", len(dropped), ", ".join(dropped))
    return dropped


def _compact_when_bloated(warehouse: Path) -> None:
    """Give back the space a build freed when it is much of the file (siyu.warehouse.maintenance), so the
    warehouse does not grow run after run. A failure to compact never fails the build."""
    from siyu.warehouse.maintenance import compact_when_bloated

    try:
        sizes = compact_when_bloated(warehouse)
    except Exception as error:  # another reader holds it, the disk is full: the next build tries again
        log.warning("dbt build: did not compact %s: %s", warehouse, error)
        return
    if sizes:
        log.info("dbt build: compacted the warehouse, %.0f MB -> %.0f MB", sizes[0] / 1e6, sizes[1] / 1e6)


def _release_database() -> None:
    """Let the warehouse go once a dbt command returns, so readers, another process and the next build (of
    another warehouse, too) can open it. dbt closes its connections when a command ends; dbt-duckdb keeps the
    database itself open between commands (its `keep_open`, on by default, spares a reopen and a checkpoint
    after every node), so it is closed here through the connection manager's public `env()` and
    `close_all_connections()`: explicitly, since an object a Python model left behind may still refer to it."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    try:
        environment = DuckDBConnectionManager.env()
    except Exception:  # env() raises a bare Exception when no command opened the database
        return
    try:
        environment.close()
    finally:
        DuckDBConnectionManager.close_all_connections()


def dbt_docs(lake: Path, warehouse: Path, target: Path) -> Path:
    """`dbt docs generate --static` into `target`; returns static_index.html, one file with the manifest
    and catalog inside, which a browser opens from disk (index.html fetches manifest.json, which browsers
    refuse over file://; it works when served: `siyu docs --serve`). Compiled with the brand's settings,
    as the build was."""
    import json

    from dbt.cli.main import dbtRunner

    from siyu.config import dbt_vars as settings_vars
    from siyu.config import load_settings

    docs_vars = {**settings_vars(load_settings()), **locations(lake, warehouse)}
    args = ["docs", "generate", "--static", "--quiet", "--no-use-colors", "--no-use-colors-file"]
    args += ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    args += ["--vars", json.dumps(docs_vars, ensure_ascii=False, default=str)]
    try:
        result = dbtRunner().invoke([*args, "--target-path", str(Path(target).resolve())])
    finally:
        _release_database()
    if not result.success:
        raise RuntimeError(f"dbt docs generate failed: {result.exception}")
    return Path(target) / "static_index.html"
