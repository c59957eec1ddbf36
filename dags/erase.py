"""
### erase: carry out customers' erasure requests (PIPL art. 47)

Runs every day at 03:00 in the brand's time zone, after the night's ingestion and transform, and carries
out every request waiting in `<privacy dir>/erasure_requests/` (recorded by `siyu erase <identifier>
--queue`; the identifier never passes through Airflow, so neither its metadata database nor its logs hold
it). A request recorded at any moment is carried out by the next run: at most 24 hours plus the run's own
time, retried twice on failure (docs/privacy.md "Time from request to deletion").

- **erase_requests**: for each request, oldest first (siyu.privacy.erase): resolve the customer (any
  identifier, or a customer id followed through customer_merges), add her keyed pseudonyms to the
  suppression list, remove siyu's corp tags from her WeCom friendships, rewrite the lake partitions and
  exports holding her rows, delete her rows from the warehouse's kept tables, rebuild with dbt, check no
  table holds any of her values, compact the DuckDB file, and append the audit record (request id,
  received, done, counts per place; no personal data). A request that fails stays queued for the retry.
- **publish**: emits the `erasures` Asset with the number of requests carried out (request ids and counts
  only), for whatever must follow an erasure (a re-export of the day's audiences, a report).
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

from siyu.orchestration import DEFAULT_ARGS, SETTINGS, START_DATE, TIMEZONE

ERASURES = Asset(name="erasures", uri="siyu://privacy/erasures", group="siyu_privacy")


def _schedule():
    from airflow.sdk import CronDataIntervalTimetable

    return CronDataIntervalTimetable("0 3 * * *", timezone=TIMEZONE)


@dag(
    dag_id="erase",
    schedule=_schedule(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["siyu", "privacy"],
    doc_md=__doc__,
)
def erase():
    @task
    def erase_requests() -> list[dict]:
        import os
        from pathlib import Path

        from siyu.privacy import pending_requests, process_requests
        from siyu.settings import exports_dir, lake_root, wecom_config
        from siyu.transform import warehouse_path

        waiting = pending_requests(lake_root())
        print(f"{len(waiting)} erasure requests waiting: {', '.join(r.request_id for r in waiting) or 'none'}")
        if not waiting:
            return []
        client = None
        if SETTINGS.has("wecom"):
            from siyu.connectors.wecom import WeComClient

            client = WeComClient(wecom_config())
        truth = os.environ.get("SIYU_TRUTH_DIR")
        try:
            records = process_requests(
                lake=lake_root(),
                warehouse=warehouse_path(),
                exports=exports_dir(),
                wecom_client=client,
                truth=Path(truth) if truth else None,
            )
        finally:
            if client is not None:
                client.close()
        for record in records:
            print(f"erasure {record['request_id']} done: {record['removed']}")
        return records

    @task(outlets=[ERASURES])
    def publish(records: list[dict]) -> None:
        from airflow.sdk import get_current_context

        done = [record["request_id"] for record in records]
        get_current_context()["outlet_events"][ERASURES].extra = {"requests": len(done), "request_ids": done}
        print(f"{len(done)} erasure requests carried out: {', '.join(done) or 'none'}")

    publish(erase_requests())


erase()
