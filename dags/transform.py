"""
### transform: the dbt project on DuckDB, when the raw lake has landed

Scheduled on the raw Assets of the brand's sources (SIYU_SOURCES, default all three): it runs once
each of them has published since the last run. A source the brand does not have is not waited for, and
the models that read it build empty (README "Choosing your sources"). One task runs `dbt build`
(models and their tests) in-process: DuckDB allows one writer per database file, and one build is the
cheapest way to honour that (docs/decisions.md).

- **build_warehouse**: `dbt build` of `dbt_project/` into `SIYU_WAREHOUSE`
  (default `data/warehouse/siyu.duckdb`), reading `SIYU_LAKE_DIR`, with the brand's settings as dbt vars
  (siyu.config). Param `as_of` (YYYY-MM-DD) builds segments and audiences as of that day (dbt var
  `snapshot_date`); empty = the day of the latest paid order. A failing model or test fails the task,
  naming each failure. When nothing the build reads changed since the last successful build (lake
  partitions, settings, dbt project, privacy files, activation sends: siyu.build_inputs) the build is
  skipped and the log says so; param `rebuild` builds anyway. dbt's unit tests are left out: they test
  the SQL, in CI (`make test`); the data tests, which guard the day's data, run.
- **report_identity_quality**: logs `marts.identity_quality` (customers, largest cluster, excluded
  values, and precision/recall/F1 when `SIYU_TRUTH_DIR` points at a generated world's truth).
- **publish**: emits the mart Assets and one Asset per audience table, each event carrying the as-of
  day the audiences were computed for; activate_audiences is scheduled on the audience Assets and
  exports for that day. Skipped (no Asset events) when the build was: nothing new to export.
"""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from siyu.orchestration import (
    DEFAULT_ARGS,
    SETTINGS,
    START_DATE,
    announce,
    announced,
    audience_assets,
    raw_assets,
    requested_as_of,
)

MARTS = ("dim_customers", "customer_identifiers", "customer_merges", "fct_orders", "identity_quality")
MART_ASSETS = [Asset(name=f"mart_{m}", uri=f"siyu://warehouse/marts/{m}", group="siyu_marts") for m in MARTS]


@dag(
    dag_id="transform",
    schedule=[asset for source in SETTINGS.sources for asset in raw_assets(source)],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["siyu", "transform", "dbt"],
    doc_md=__doc__,
    params={
        "as_of": Param(
            None,
            type=["null", "string"],
            format="date",
            description="build segments and audiences as of this day (YYYY-MM-DD); empty = latest paid order",
        ),
        "rebuild": Param(
            False,
            type="boolean",
            description="build even when nothing the build reads changed since the last successful build",
        ),
    },
    # Runs only when the ingestion DAGs publish: safe to leave unpaused from the start.
    is_paused_upon_creation=False,
)
def transform():
    @task
    def build_warehouse() -> dict:
        import os
        from pathlib import Path

        from siyu.settings import lake_root
        from siyu.transform import LakeNotReady, dbt_build, warehouse_path

        context = get_current_context()
        days = sorted({event["day"] for event in announced(context) if event.get("day")})
        if days:
            print(f"raw data published for {', '.join(days)}")
        as_of = requested_as_of(context)
        truth = os.environ.get("SIYU_TRUTH_DIR")
        try:
            result = dbt_build(
                lake_root(),
                warehouse_path(),
                truth=Path(truth) if truth else None,
                dbt_vars={"snapshot_date": as_of} if as_of else None,
                skip_unchanged=not context["params"].get("rebuild"),
                # dbt's unit tests test the SQL and run in CI; the daily build keeps the data tests
                unit_tests=False,
            )
        except LakeNotReady as not_ready:  # retrying cannot land data: fail now, saying what to run
            raise AirflowFailException(str(not_ready)) from not_ready
        if not result.success:
            raise RuntimeError("dbt build failed:\n" + "\n".join(f"  - {f}" for f in result.failures))
        if result.skipped:
            print("nothing changed since the last build: dbt build skipped (param rebuild builds anyway)")
        return {"skipped": result.skipped, **result.results}

    @task
    def report_identity_quality(results: dict) -> dict:
        from siyu.transform import warehouse_path
        from siyu.warehouse import identity_quality, open_warehouse

        with open_warehouse(warehouse_path()) as warehouse:
            quality = identity_quality(warehouse)
        print(f"dbt build {results}; identity quality {quality}")
        return {k: (None if v != v else (str(v) if hasattr(v, "isoformat") else v)) for k, v in quality.items()}

    @task(outlets=[*MART_ASSETS, *audience_assets()])
    def publish(quality: dict) -> None:
        from siyu.activation import audiences_as_of
        from siyu.transform import warehouse_path

        context = get_current_context()
        if context["ti"].xcom_pull(task_ids="build_warehouse", key="return_value").get("skipped"):
            raise AirflowSkipException("the build was skipped (nothing changed): no Asset events")
        as_of = audiences_as_of(warehouse_path())
        # A build as of a chosen day is a report of the past: activation exports it but does not act on it.
        extra = {"as_of": as_of and as_of.isoformat(), "as_of_requested": bool(requested_as_of(context))}
        announce(context, [*MART_ASSETS, *audience_assets()], extra)
        print(f"published marts {', '.join(MARTS)} and audiences as of {as_of}")

    publish(report_identity_quality(build_warehouse()))


transform()
