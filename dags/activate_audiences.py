"""
### activate_audiences: audiences out to activation tools, computed tags back to WeCom

The audiences are the rows of the audience registry (`dbt_project/seeds/audience_registry.csv`, read
by `siyu.orchestration.AUDIENCES`): one table `audiences.aud_<name>`, one Asset and one export each.

Scheduled on the audience Assets `transform` publishes, so it runs after every warehouse build. The
export day is the as-of day the triggering events announce (the audiences' `computed_on`); a run started
by hand uses the `day` param, else the audiences' own as-of day in the warehouse. After a transform run
with an explicit `as_of` (a report of a chosen day), the audiences are exported but nothing acts on
customers: no sends are recorded and no tags are written to WeCom.

- **validate**: a Great Expectations suite per audience (no suppressed customer, no duplicate, the
  channel's fields present). One failing audience stops every export.
- **export**: `SIYU_EXPORTS_DIR/<audience>/<date>/` (default `data/exports`) with Parquet, CSV and a
  `_manifest.json` (rows, columns, by channel, sha256 of each file). A rerun replaces the day's folder.
- **record_sends**: the exported customers into `activation.sends` in the warehouse; the frequency cap
  reads it on the next build.
- **publish**: emits one Asset per audience export.
- **writeback_tags**: RFM segment and lifecycle stage become corp tags (groups `siyu RFM 分层`,
  `siyu 生命周期`) on every live friendship through `mark_tag`, using the `wecom_default` connection.
  Current tags are read from WeCom first and only differences are sent: a second run sends nothing.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from siyu.orchestration import (
    DEFAULT_ARGS,
    START_DATE,
    acts_on_customers,
    audience_assets,
    day_param,
    export_assets,
    export_day,
)


@dag(
    dag_id="activate_audiences",
    schedule=audience_assets(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["siyu", "activation", "wecom"],
    doc_md=__doc__,
    params={"day": day_param()},
    # Runs only when transform publishes audiences: safe to leave unpaused from the start.
    is_paused_upon_creation=False,
)
def activate_audiences():
    @task
    def validate() -> dict:
        from siyu.activation import validate_audiences
        from siyu.transform import warehouse_path

        return validate_audiences(warehouse_path())

    @task
    def export(sizes: dict) -> dict:
        from siyu.activation import export_audiences
        from siyu.settings import exports_dir
        from siyu.transform import warehouse_path

        run = export_day(get_current_context())
        manifests = export_audiences(warehouse_path(), exports_dir(), run.day, run.run_id)
        return {audience: manifest["rows"] for audience, manifest in manifests.items()}

    @task
    def record_sends(exported: dict) -> int:
        from siyu.activation import record_sends as record
        from siyu.transform import warehouse_path

        context = get_current_context()
        if not acts_on_customers(context):
            print("audiences built as of a chosen day: no sends recorded")
            return 0
        run = export_day(context)
        return record(warehouse_path(), run.day, run.run_id)

    @task
    def writeback_tags(sizes: dict) -> dict:
        from dataclasses import asdict

        from siyu.activation import writeback_tags as writeback
        from siyu.connectors.wecom import WeComClient
        from siyu.settings import wecom_config
        from siyu.transform import warehouse_path

        if not acts_on_customers(get_current_context()):
            print("audiences built as of a chosen day: no tags written back to WeCom")
            return {}
        with WeComClient(wecom_config()) as client:
            return asdict(writeback(warehouse_path(), client))

    @task(outlets=export_assets())
    def publish(exported: dict, written: dict) -> None:
        print(f"exported audiences {exported}; WeCom tag writeback {written}")

    # One after another: DuckDB lets one process write the warehouse, and no other open it meanwhile.
    sizes = validate()
    exported = export(sizes)
    recorded = record_sends(exported)
    written = writeback_tags(sizes)
    recorded >> written
    publish(exported, written)


activate_audiences()
