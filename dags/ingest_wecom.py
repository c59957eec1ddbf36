"""
### ingest_wecom: WeCom customer contact into the raw lake

Runs daily at 00:00 in the brand's time zone (SIYU_TIMEZONE, default Asia/Shanghai) for the day that
just ended (`dt`). A run started by hand (UI, REST API, CLI) with no date ingests the day before it was
triggered; set the `day` param (or conf `{"day": "YYYY-MM-DD"}`) to choose one, or backfill a range:
`airflow backfill create --dag-id ingest_wecom --from-date 2025-12-29T00:00:00+08:00 --to-date
2025-12-31T00:00:00+08:00` ingests those three days (give the offset: a bare date is read as UTC).
WeCom keeps statistics for about 180 days and refuses days after "today" (errcode 40058).

- **snapshot_contacts**: every guide's friendships (`batch/get_by_user`) → `wecom/follow_relations`,
  `wecom/external_contacts`.
- **snapshot_groups**: customer groups and their members → `wecom/groups`, `wecom/group_members`.
- **snapshot_directory**: corp tags, channel QR codes (`state`), customers of resigned guides →
  `wecom/corp_tags`, `wecom/contact_ways`, `wecom/unassigned_customers`.
- **pull_statistics**: the day's behaviour per guide and group statistics per owner →
  `wecom/user_behavior`, `wecom/group_statistic`.
- **validate**: the raw Great Expectations suites; a failure stops publishing.
- **publish**: emits one Asset per entity, which schedules the transform.

Connection `wecom_default`: host = API base, login = corpid, password = the app secret.
Lake: `SIYU_LAKE_DIR` (default `data/lake`). Rerunning a day replaces its partitions.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from siyu.orchestration import (
    DEFAULT_ARGS,
    RAW_ENTITIES,
    START_DATE,
    announce,
    daily_schedule,
    day_param,
    raw_assets,
    run_day,
    source_doc,
)

SOURCE = "wecom"


def _client():
    from siyu.connectors.wecom import WeComClient
    from siyu.settings import wecom_config

    return WeComClient(wecom_config())


def _lake():
    from siyu.settings import lake_root

    return lake_root()


@dag(
    dag_id="ingest_wecom",
    schedule=daily_schedule(SOURCE),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["siyu", "ingest", "wecom"],
    doc_md=source_doc(SOURCE, __doc__),
    params={"day": day_param()},
)
def ingest_wecom():
    @task
    def snapshot_contacts() -> dict:
        from siyu.ingest.wecom import snapshot_contacts as run

        with _client() as client:
            return run(client, _lake(), run_day(get_current_context()))

    @task
    def snapshot_groups() -> dict:
        from siyu.ingest.wecom import snapshot_groups as run

        with _client() as client:
            return run(client, _lake(), run_day(get_current_context()))

    @task
    def snapshot_directory() -> dict:
        from siyu.ingest.wecom import snapshot_directory as run

        with _client() as client:
            return run(client, _lake(), run_day(get_current_context()))

    @task
    def pull_statistics() -> dict:
        from siyu.ingest.wecom import pull_statistics as run

        with _client() as client:
            return run(client, _lake(), run_day(get_current_context()))

    @task
    def validate(*counts: dict) -> dict:
        from siyu.quality.raw_suites import validate_partitions

        day = run_day(get_current_context())
        validate_partitions(_lake(), SOURCE, [(entity, day.dt) for entity in RAW_ENTITIES[SOURCE]])
        return {entity: rows for part in counts for entity, rows in part.items()}

    @task(outlets=raw_assets(SOURCE))
    def publish(counts: dict) -> None:
        context = get_current_context()
        day = run_day(context)
        announce(context, raw_assets(SOURCE), {"source": SOURCE, "day": day.dt, "rows": counts})
        print(f"published {SOURCE} raw entities for {day.dt}: {counts}")

    publish(validate(snapshot_contacts(), snapshot_groups(), snapshot_directory(), pull_statistics()))


ingest_wecom()
