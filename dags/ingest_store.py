"""
### ingest_store: store POS and member files, and the session archive, into the raw lake

Runs every hour and loads files by arrival from `SIYU_DROP_DIR` (default `data/drops`):
`pos/<store>/pos_<store>_<date>.csv`, `members/<store>/members_<store>_<date>.csv` and
`archive/<date>.jsonl`.

- **load_new_files**: finds files not loaded before (by content hash, recorded in
  `_state/processed_files.json` in the lake), re-reads every file of each business date they touch,
  and replaces that date's partition → `store/pos_lines`, `store/members`, `store/messages`,
  `store/shop_visits` (the shop's visit tracking export, tracking/YYYY-MM-DD.jsonl).
  Files follow the store file contract (README "Store file contract": UTF-8, UTF-8 with BOM or
  GBK/GB18030, header by name, ASCII numbers in range, dates from 1990); a re-sent day replaces the
  earlier file (latest arrival wins) and a copy under another name lands nothing. Rows failing the
  contract go to `quarantine/store/...` with file, line, raw text and reason; a file that cannot be
  read is quarantined whole. Every file's lines read = landed + quarantined + duplicates, in the
  partition's `_manifest.json`. One bad file or line never stops the others.
- **validate** and **publish** as in every ingestion DAG (only the partitions this run touched).
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from siyu.orchestration import DEFAULT_ARGS, SETTINGS, START_DATE, announce, raw_assets, run_day, source_doc

SOURCE = "store"


@dag(
    dag_id="ingest_store",
    # By arrival, not by date: every run loads whatever files are new, so one schedule suits any history.
    schedule="0 * * * *" if SETTINGS.has(SOURCE) else None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["siyu", "ingest", "store"],
    doc_md=source_doc(SOURCE, __doc__),
)
def ingest_store():
    @task
    def load_new_files() -> dict:
        from siyu.ingest.store import ingest_files
        from siyu.settings import drop_dir, lake_root

        return ingest_files(drop_dir(), lake_root(), run_day(get_current_context()))

    @task
    def validate(loaded: dict) -> dict:
        from siyu.quality.raw_suites import validate_partitions
        from siyu.settings import lake_root

        validate_partitions(lake_root(), SOURCE, [tuple(p) for p in loaded["partitions"]])
        return loaded["entities"]

    @task(outlets=raw_assets(SOURCE))
    def publish(counts: dict) -> None:
        announce(get_current_context(), raw_assets(SOURCE), {"source": SOURCE, "rows": counts})
        print(f"published {SOURCE} raw entities: {counts}")

    publish(validate(load_new_files()))


ingest_store()
