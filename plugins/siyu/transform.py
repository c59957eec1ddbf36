"""Run the dbt project: `dbt build` in-process through dbt's programmatic runner, with the lake,
warehouse and truth locations passed through the environment."""

from __future__ import annotations

import logging
import os
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

    settings = load_settings()
    extra_args = list(extra_args or [])
    if "--vars" in extra_args:  # a caller's --vars joins the settings' instead of replacing them
        at = extra_args.index("--vars")
        dbt_vars = {**(dbt_vars or {}), **yaml.safe_load(extra_args[at + 1])}
        del extra_args[at : at + 2]
    missing = missing_entities(lake, settings.sources)
    if missing:
        raise LakeNotReady(
            f"no raw data yet for {', '.join(missing)} in {lake}: run the ingestion DAGs of these sources first, "
            f"or leave the source out of SIYU_SOURCES (now {','.join(settings.sources)})"
        )
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    os.environ["SIYU_LAKE_DIR"] = str(Path(lake).resolve())
    os.environ["SIYU_WAREHOUSE"] = str(Path(warehouse).resolve())
    if truth is not None:
        os.environ["SIYU_TRUTH_DIR"] = str(Path(truth).resolve())
    else:
        os.environ.pop("SIYU_TRUTH_DIR", None)
    args = [
        "build",
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
    try:
        result = dbtRunner().invoke(args)
    finally:
        _release_duckdb()
    statuses: dict[str, int] = {}
    failures = []
    for node_result in result.result or []:
        status = str(node_result.status)
        statuses[status] = statuses.get(status, 0) + 1
        if status in ("error", "fail"):
            failures.append(f"{node_result.node.name}: {node_result.message}")
    log.info("dbt build: %s", statuses)
    return BuildResult(success=bool(result.success), results=statuses, failures=failures)


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
    """`dbt docs generate` into `target` (index.html, manifest.json, catalog.json); returns index.html."""
    from dbt.cli.main import dbtRunner

    os.environ["SIYU_LAKE_DIR"] = str(Path(lake).resolve())
    os.environ["SIYU_WAREHOUSE"] = str(Path(warehouse).resolve())
    args = ["docs", "generate", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    try:
        result = dbtRunner().invoke([*args, "--target-path", str(Path(target).resolve())])
    finally:
        _release_duckdb()
    if not result.success:
        raise RuntimeError(f"dbt docs generate failed: {result.exception}")
    return Path(target) / "index.html"
