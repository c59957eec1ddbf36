"""
### transform: the dbt project on DuckDB, when the raw lake has landed

Scheduled on the raw Assets of all three ingestion DAGs: it runs once each source has published
since the last run. One task runs `dbt build` (models and their tests) in-process: DuckDB allows one
writer per database file, and one build is the cheapest way to honour that (docs/decisions.md).

- **build_warehouse**: `dbt build` of `dbt_project/` into `SIYU_WAREHOUSE`
  (default `data/warehouse/siyu.duckdb`), reading `SIYU_LAKE_DIR`. A failing model or test fails the
  task, naming each failure.
- **report_identity_quality**: logs `marts.identity_quality` (customers, largest cluster, excluded
  values, and precision/recall/F1 when `SIYU_TRUTH_DIR` points at a generated world's truth).
- **publish**: emits the mart Assets and one Asset per audience table; activate_audiences is scheduled
  on the audience Assets.
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

from siyu.orchestration import DEFAULT_ARGS, START_DATE, audience_assets, raw_assets

MARTS = ("dim_customers", "customer_identifiers", "customer_merges", "fct_orders", "identity_quality")


@dag(
    dag_id="transform",
    schedule=[*raw_assets("wecom"), *raw_assets("shop"), *raw_assets("store")],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["siyu", "transform", "dbt"],
    doc_md=__doc__,
)
def transform():
    @task
    def build_warehouse() -> dict:
        import os
        from pathlib import Path

        from siyu.settings import lake_root
        from siyu.transform import dbt_build, warehouse_path

        truth = os.environ.get("SIYU_TRUTH_DIR")
        result = dbt_build(lake_root(), warehouse_path(), truth=Path(truth) if truth else None)
        if not result.success:
            raise RuntimeError("dbt build failed:\n" + "\n".join(f"  - {f}" for f in result.failures))
        return result.results

    @task
    def report_identity_quality(results: dict) -> dict:
        import duckdb

        from siyu.transform import warehouse_path

        with duckdb.connect(str(warehouse_path()), read_only=True) as con:
            quality = con.sql("select * from marts.identity_quality").df().iloc[0].to_dict()
        print(f"dbt build {results}; identity quality {quality}")
        return {k: (None if v != v else (str(v) if hasattr(v, "isoformat") else v)) for k, v in quality.items()}

    @task(
        outlets=[
            *(Asset(name=f"mart_{m}", uri=f"siyu://warehouse/marts/{m}", group="siyu_marts") for m in MARTS),
            *audience_assets(),
        ]
    )
    def publish(quality: dict) -> None:
        print(f"published marts {', '.join(MARTS)}")

    publish(report_identity_quality(build_warehouse()))


transform()
