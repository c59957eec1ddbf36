"""Run the dbt project: `dbt build` in-process through dbt's programmatic runner, with the lake,
warehouse and truth locations passed through the environment."""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def warehouse_path() -> Path:
    """SIYU_WAREHOUSE, default ./data/warehouse/siyu.duckdb."""
    return Path(os.environ.get("SIYU_WAREHOUSE", "data/warehouse/siyu.duckdb"))


@dataclass
class BuildResult:
    success: bool
    results: dict[str, int]  # status -> count
    failures: list[str]


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
) -> BuildResult:
    """Build (models and tests). DuckDB allows one writer per file, so this is the only writer.
    The brand's settings (siyu.config) become dbt vars; `dbt_vars` adds a run's own (e.g. snapshot_date)."""
    import json

    import yaml
    from dbt.cli.main import dbtRunner

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
    os.environ["SIYU_LAKE_DIR"] = str(Path(lake).resolve())
    os.environ["SIYU_WAREHOUSE"] = str(Path(warehouse).resolve())
    if truth is not None:
        os.environ["SIYU_TRUTH_DIR"] = str(Path(truth).resolve())
    else:
        os.environ.pop("SIYU_TRUTH_DIR", None)
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
        json.dumps(settings_vars(settings, dbt_vars), ensure_ascii=False, default=str),
        *extra_args,
    ]
    if select:
        args += ["--select", select]
    logged_errors: list[str] = []
    try:
        callbacks = [_collect_errors(logged_errors), BuildProgress(whole_project=select is None)]
        result = dbtRunner(callbacks=callbacks).invoke(args)
    finally:
        _release_duckdb()
    _drop_temporary_relations(Path(warehouse))
    statuses: dict[str, int] = {}
    failures = []
    for node_result in result.result or []:  # models, tests and the on-run-start/end hooks
        status = str(node_result.status)
        statuses[status] = statuses.get(status, 0) + 1
        if status in ("error", "fail"):
            failures.append(f"{node_result.node.name}: {node_result.message}")
    if result.exception is not None:  # dbt stopped before or between nodes: a lock, a connection, the project
        failures.append(f"dbt stopped: {result.exception}")
    if not result.success and not failures:
        failures = logged_errors or ["dbt build failed without naming a node or an error (see dbt.log)"]
    log.info("dbt build: %s", statuses)
    return BuildResult(success=bool(result.success), results=statuses, failures=failures)


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


def _collect_errors(errors: list[str]):
    """A dbt event callback keeping the text of error-level events: where dbt tells a failure that has no
    node result, when it has no exception to return either."""

    def collect(event) -> None:
        if event.info.level == "error" and event.info.msg.strip():
            errors.append(event.info.msg.strip())

    return collect


def _drop_temporary_relations(warehouse: Path) -> list[str]:
    """Drop the `__dbt_tmp` relations a build leaves in the warehouse (dbt-duckdb stages a Python incremental
    model's new rows in a real table, `int_identity_map__dbt_tmp<timestamp>`, raw identifiers included, and
    never drops it; a killed build leaves any), then CHECKPOINT so their space is reused. Runs after
    _release_duckdb, so it is the only connection; when another process holds the warehouse it logs and
    leaves them for the next build."""
    import duckdb

    if not warehouse.exists():
        return []
    try:
        with duckdb.connect(str(warehouse)) as connection:
            leftovers = connection.execute(
                "select table_schema, table_name, table_type from information_schema.tables"
                " where table_catalog = current_database() and contains(table_name, '__dbt_tmp')"
            ).fetchall()
            for schema, name, table_type in leftovers:
                kind = "view" if table_type == "VIEW" else "table"
                quoted = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, name))
                connection.execute(f"drop {kind} if exists {quoted}")
            if leftovers:
                connection.execute("checkpoint")
    except duckdb.Error as error:
        log.warning("dbt build: left dbt's temporary relations in %s: %s", warehouse, error)
        return []
    dropped = [f"{schema}.{name}" for schema, name, _ in leftovers]
    if dropped:
        log.info("dbt build: dropped %d temporary relations dbt left: %s", len(dropped), ", ".join(dropped))
    return dropped


def _release_duckdb() -> None:
    """dbt-duckdb keeps its database open for the life of the process; close it so the warehouse can
    be read (read-only, or by another process) once the build is done."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    if environment is not None:
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

    os.environ["SIYU_LAKE_DIR"] = str(Path(lake).resolve())
    os.environ["SIYU_WAREHOUSE"] = str(Path(warehouse).resolve())
    args = ["docs", "generate", "--static", "--quiet", "--no-use-colors", "--no-use-colors-file"]
    args += ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    args += ["--vars", json.dumps(settings_vars(load_settings()), ensure_ascii=False, default=str)]
    try:
        result = dbtRunner().invoke([*args, "--target-path", str(Path(target).resolve())])
    finally:
        _release_duckdb()
    if not result.success:
        raise RuntimeError(f"dbt docs generate failed: {result.exception}")
    return Path(target) / "static_index.html"
