"""What siyu's DAGs share: default arguments, the start date, the raw entities and their Assets.
Kept light: DAG files import this at parse time, everything heavy is imported inside tasks."""

from __future__ import annotations

from datetime import timedelta

import pendulum

TIMEZONE = "Asia/Shanghai"
START_DATE = pendulum.datetime(2025, 1, 1, tz=TIMEZONE)
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
    "store": ("pos_lines", "members", "messages", "shop_visits"),
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


def run_day(context) -> object:
    """The RunDay of a task's run (see siyu.ingest.run_day)."""
    from siyu.ingest.run_day import run_day_for

    return run_day_for(context["logical_date"], context["run_id"])


AUDIENCES = (
    "first_order_nudge",
    "order_push_3",
    "order_push_5",
    "win_back_important",
    "group_invitation",
    "koc_recruitment",
    "vip_care",
)


def audience_assets() -> list:
    """One Asset per audience table: transform publishes them, activate_audiences is scheduled on them."""
    from airflow.sdk import Asset

    return [
        Asset(name=f"audience_{a}", uri=f"siyu://warehouse/audiences/aud_{a}", group="siyu_audiences")
        for a in AUDIENCES
    ]
