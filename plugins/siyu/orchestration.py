"""What siyu's DAGs share: default arguments, the start date, the raw entities and their Assets.
Kept light: DAG files import this at parse time, everything heavy is imported inside tasks."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pendulum

from siyu.config import load_settings

SETTINGS = load_settings()
TIMEZONE = SETTINGS.timezone
# Early enough for any history a brand imports (siyu accepts dates from 1990); catchup stays off, so a
# new DAG does not schedule decades of runs: history comes in by backfill or `siyu import`.
START_DATE = pendulum.datetime(1990, 1, 1, tz=TIMEZONE)
DEFAULT_ARGS = {
    "owner": "siyu",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}
RAW_ENTITIES = {
    "wecom": (
        "external_contacts",
        "follow_relations",
        "groups",
        "group_members",
        "corp_tags",
        "contact_ways",
        "unassigned_customers",
        "user_behavior",
        "group_statistic",
    ),
    "shop": ("orders", "order_items", "refunds", "users"),
    "store": ("pos_lines", "members", "stores", "staff", "messages", "shop_visits"),
}


def raw_asset_uri(source: str, entity: str) -> str:
    return f"siyu://lake/raw/{source}/{entity}"


def raw_assets(source: str) -> list:
    """One Asset per raw entity: the transform DAG is scheduled on them."""
    from airflow.sdk import Asset

    return [
        Asset(name=f"raw_{source}_{entity}", uri=raw_asset_uri(source, entity), group="siyu_raw")
        for entity in RAW_ENTITIES[source]
    ]


def daily_schedule(source: str):
    """A daily data interval [00:00, next 00:00) in the brand's time zone, run when it ends; None (not
    scheduled, trigger by hand only) for a source the brand does not have (SIYU_SOURCES)."""
    from airflow.sdk import CronDataIntervalTimetable

    if not SETTINGS.has(source):
        return None
    return CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE)


def source_doc(source: str, doc: str) -> str:
    if SETTINGS.has(source):
        return doc
    return f"**Not scheduled: `{source}` is not among this brand's sources (SIYU_SOURCES).**\n\n{doc}"


def day_param():
    from airflow.sdk import Param

    return Param(
        None,
        type=["null", "string"],
        format="date",
        description="business day to ingest (YYYY-MM-DD); empty = the day the run's data interval covers, "
        "or the day before the trigger time",
    )


def run_day(context) -> object:
    """The RunDay of a task's run, however it was started (see siyu.ingest.run_day)."""
    from siyu.ingest.run_day import run_day_from_context

    return run_day_from_context(context)


def announce(context, assets: list, extra: dict) -> None:
    """Attach what a run produced to the Asset events it emits, so runs they trigger know it."""
    for asset in assets:
        context["outlet_events"][asset].extra = extra


def announced(context) -> list[dict]:
    """The extras of the Asset events that triggered this run, oldest first (empty for a run started
    otherwise)."""
    events = context.get("triggering_asset_events") or {}
    flat = [event for _asset, asset_events in events.items() for event in asset_events]
    flat.sort(key=lambda event: str(getattr(event, "timestamp", "")))
    return [dict(event.extra or {}) for event in flat]


# The audience registry (docs/decisions.md "Audience registry"): the dbt seed that names every audience once,
# with its priority, channel rule and description. dbt reads it as a seed; Python reads the file (a few
# lines of CSV, cheap at DAG parse time) so the DAGs, Assets and exports list the same audiences.
AUDIENCE_REGISTRY = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "audience_registry.csv"


def read_audience_registry(path: Path = AUDIENCE_REGISTRY) -> list[dict[str, str]]:
    """The registry's rows, in file order: audience, priority, channel_rule, description, label_zh, reason_zh."""
    with open(path, encoding="utf-8", newline="") as registry:
        return list(csv.DictReader(registry))


# The audiences' names in registry order; each has a table audiences.aud_<name>.
AUDIENCES: tuple[str, ...] = tuple(row["audience"] for row in read_audience_registry())


def audience_asset_uri(audience: str) -> str:
    return f"siyu://warehouse/audiences/aud_{audience}"


def audience_assets() -> list:
    """One Asset per audience table: transform publishes them, activate_audiences is scheduled on them."""
    from airflow.sdk import Asset

    return [Asset(name=f"audience_{a}", uri=audience_asset_uri(a), group="siyu_audiences") for a in AUDIENCES]


def export_assets() -> list:
    """One Asset per audience export: activate_audiences publishes them."""
    from airflow.sdk import Asset

    return [Asset(name=f"export_{a}", uri=f"siyu://exports/{a}", group="siyu_exports") for a in AUDIENCES]


def requested_as_of(context) -> str | None:
    """The as-of day a transform run was asked for: its `as_of` param, else `as_of` in its conf."""
    return context["params"].get("as_of") or (context["dag_run"].conf or {}).get("as_of")


def acts_on_customers(context) -> bool:
    """False when the latest triggering build was as of a chosen day (transform's `as_of`): past audiences
    are a report, not a send list, and old tags must not overwrite today's in WeCom."""
    events = announced(context)
    return not (events and events[-1].get("as_of_requested"))


def export_day(context) -> object:
    """The RunDay activation exports for: the `day` param, else the as-of day of the latest triggering
    build, else the audiences' own as-of day in the warehouse."""
    from siyu.activation import audiences_as_of
    from siyu.ingest.run_day import RunDay, explicit_day, parse_day
    from siyu.transform import warehouse_path

    days = [event["as_of"] for event in announced(context) if event.get("as_of")]
    chosen = explicit_day(context) or (days[-1] if days else None) or audiences_as_of(warehouse_path())
    if chosen is None:
        raise ValueError("no audiences computed yet (empty warehouse): run transform first, or pass a day")
    return RunDay(day=parse_day(chosen), run_id=context["run_id"])
