"""A brand's settings in one place: which sources it has, its time zone, and the dbt vars it changes
(as-of date, RFM window, CLV horizon, thresholds). DAGs, `dbt_build` and the CLI all read them here.

Where they come from, later ones winning:
1. the defaults below and the vars in `dbt_project/dbt_project.yml`;
2. a YAML file named by `SIYU_CONFIG` (see README "Configuration");
3. the environment: `SIYU_SOURCES` (comma-separated, e.g. `store,wecom`), `SIYU_TIMEZONE`, `SIYU_ENGINE`.

`engine` chooses where the transform runs, for the DAGs and the CLI alike: `duckdb` (the default, one file) or
`spark` (dbt-spark; docs/spark.md).

Kept light (yaml and the standard library): DAG files read it at parse time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALL_SOURCES = ("wecom", "shop", "store")
# The engines the dbt project builds on (profiles.yml targets of the same names).
ENGINES = ("duckdb", "spark")
# The brand's time zone unless it sets one (SIYU_TIMEZONE, or `timezone` in its file). dbt_project.yml's
# default for var `timezone` equals it (tests/test_settings.py checks).
DEFAULT_TIMEZONE = "Asia/Shanghai"
# The zones sources write their times in: facts of their APIs, not the brand's setting. Youzan's Open API
# reads and writes Beijing time; WeCom's daily statistics are stamped at Beijing midnight (stat_time, contract
# §5). Passed to dbt as var `source_timezones` (macro source_time_zone); siyu.connectors.youzan reads it here.
SOURCE_TIMEZONES = {"shop": "Asia/Shanghai", "wecom": "Asia/Shanghai"}
# A store id as the store system writes it: in file names, POS lines, member cards and its master data.
STORE_ID_PATTERN = r"S[0-9]{4}"
# Days of orders the daily shop pull re-reads: an order changes for days after it is placed (shipped,
# completed, refunded). The ingest_shop DAG's lookback_days default.
SHOP_LOOKBACK_DAYS = 3


# Vars a settings file may still carry from an earlier siyu: refused with what replaced them, rather than
# silently ignored.
REMOVED_VARS = {
    "audience_priorities": "each audience's priority is in dbt_project/seeds/audience_registry.csv",
    "identity_receipt_limit": "merge protection uses identity_link_limits and identity_shared_phones",
}


class ConfigError(ValueError):
    """The brand's settings cannot be used as written."""


@dataclass(frozen=True)
class Settings:
    sources: tuple[str, ...] = ALL_SOURCES
    timezone: str = DEFAULT_TIMEZONE
    engine: str = "duckdb"
    # dbt vars the brand overrides (names as in dbt_project.yml); passed to every dbt build.
    dbt_vars: dict = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def has(self, source: str) -> bool:
        return source in self.sources


def _parse_sources(value, origin: str) -> tuple[str, ...]:
    names = [part.strip().lower() for part in value.split(",")] if isinstance(value, str) else list(value or [])
    names = [name for name in names if name]
    unknown = sorted(set(names) - set(ALL_SOURCES))
    if unknown:
        raise ConfigError(f"{origin}: unknown source(s) {', '.join(unknown)}; known: {', '.join(ALL_SOURCES)}")
    if not names:
        raise ConfigError(f"{origin}: names no source; a brand has at least one of {', '.join(ALL_SOURCES)}")
    return tuple(source for source in ALL_SOURCES if source in names)


def _check_timezone(name: str, origin: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(f"{origin}: unknown time zone {name!r} (an IANA name such as Asia/Shanghai)") from error
    return name


def _check_engine(name: str, origin: str) -> str:
    engine = name.strip().lower()
    if engine not in ENGINES:
        raise ConfigError(f"{origin}: unknown engine {name!r}; known: {', '.join(ENGINES)}")
    return engine


def load_settings(environ: dict | None = None) -> Settings:
    """The settings in force for this process (file named by SIYU_CONFIG, then the environment)."""
    environ = os.environ if environ is None else environ
    config_path = environ.get("SIYU_CONFIG", "")
    try:  # an edited file is read again by a long-running process (the key changes with its mtime)
        stamp = Path(config_path).stat().st_mtime_ns if config_path else 0
    except OSError:
        stamp = -1
    return _load(
        config_path,
        stamp,
        environ.get("SIYU_SOURCES", ""),
        environ.get("SIYU_TIMEZONE", ""),
        environ.get("SIYU_ENGINE", ""),
    )


@lru_cache(maxsize=1)
def project_vars() -> frozenset[str]:
    """The dbt vars dbt_project.yml declares: what a settings file may set."""
    import yaml

    project = Path(__file__).resolve().parents[2] / "dbt_project" / "dbt_project.yml"
    return frozenset(yaml.safe_load(project.read_text(encoding="utf-8"))["vars"])


@lru_cache(maxsize=8)
def _load(config_path: str, stamp: int, sources_env: str, timezone_env: str, engine_env: str = "") -> Settings:
    sources: tuple[str, ...] = ALL_SOURCES
    timezone = DEFAULT_TIMEZONE
    engine = "duckdb"
    dbt_vars: dict = {}
    if config_path:
        import yaml

        path = Path(config_path)
        if not path.is_file():
            raise ConfigError(f"SIYU_CONFIG={config_path}: no such file")
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        unknown = sorted(set(document) - {"sources", "timezone", "engine", "vars"})
        if unknown:
            raise ConfigError(
                f"{path}: unknown setting(s) {', '.join(unknown)}; known: sources, timezone, engine, vars"
            )
        if "sources" in document:
            sources = _parse_sources(document["sources"], f"{path}: sources")
        if "timezone" in document:
            timezone = _check_timezone(str(document["timezone"]), f"{path}: timezone")
        if "engine" in document:
            engine = _check_engine(str(document["engine"]), f"{path}: engine")
        dbt_vars = dict(document.get("vars") or {})
        removed = sorted(set(dbt_vars) & set(REMOVED_VARS))
        if removed:
            raise ConfigError(
                f"{path}: vars: " + "; ".join(f"{name} was removed: {REMOVED_VARS[name]}" for name in removed)
            )
        unknown_vars = sorted(set(dbt_vars) - project_vars())
        if unknown_vars:  # a typo would otherwise be passed to dbt and change nothing
            import difflib

            def hint(name: str) -> str:
                close = difflib.get_close_matches(name, project_vars(), 1)
                return f" (did you mean {close[0]}?)" if close else ""

            raise ConfigError(
                f"{path}: vars: "
                + "; ".join(f"{name} is not a siyu dbt var{hint(name)}" for name in unknown_vars)
                + " (the vars are listed in dbt_project/dbt_project.yml and the README)"
            )
    if sources_env.strip():
        sources = _parse_sources(sources_env, "SIYU_SOURCES")
    if timezone_env.strip():
        timezone = _check_timezone(timezone_env.strip(), "SIYU_TIMEZONE")
    if engine_env.strip():
        engine = _check_engine(engine_env, "SIYU_ENGINE")
    return Settings(sources=sources, timezone=timezone, engine=engine, dbt_vars=dbt_vars)


def dbt_vars(settings: Settings, overrides: dict | None = None) -> dict:
    """The vars a dbt build gets: the brand's, its time zone and sources, the sources' own zones, then a run's
    own (as-of date)."""
    return {
        **settings.dbt_vars,
        "timezone": settings.timezone,
        "source_timezones": dict(SOURCE_TIMEZONES),
        "sources": list(settings.sources),
        **(overrides or {}),
    }
