"""
### ingest_shop: Youzan orders and buyers into the raw lake

Runs daily at 00:00 in the brand's time zone (SIYU_TIMEZONE, default Asia/Shanghai) for the day that
just ended (`dt`). A run started by hand with no date ingests the day before it was triggered; the
`day` param (or conf `{"day": "YYYY-MM-DD"}`) chooses one; `airflow backfill create --dag-id ingest_shop
--from-date A --to-date B` ingests the days A..B (give A and B with the brand's offset, e.g.
`2025-12-29T00:00:00+08:00`: a bare date is read as UTC).

- **pull_orders**: orders whose update time falls in the day, plus a lookback (`lookback_days`,
  default `siyu.config.SHOP_LOOKBACK_DAYS`, 3) for late changes (consign, success, refund) →
  `shop/orders`, `shop/order_items`, `shop/refunds`. Each order once, in its latest state.
- **pull_users**: account links of the buyers seen (`youzan.users.info.query`) → `shop/users`.
- **validate** and **publish** as in every ingestion DAG.

Backfill a longer window with run conf `{"start": "2025-01-01 00:00:00", "end": "2025-12-31 23:59:59"}`.
Connection `youzan_default`: host = API base, login = client_id, password = client_secret,
extra `{"kdt_id": "<shop id>"}`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from siyu.config import SHOP_LOOKBACK_DAYS
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

SOURCE = "shop"


def _client():
    from siyu.connectors.youzan import YouzanClient
    from siyu.settings import youzan_config

    return YouzanClient(youzan_config())


def _lake():
    from siyu.settings import lake_root

    return lake_root()


@dag(
    dag_id="ingest_shop",
    schedule=daily_schedule(SOURCE),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["siyu", "ingest", "shop"],
    doc_md=source_doc(SOURCE, __doc__),
    params={
        "day": day_param(),
        "start": Param(None, type=["null", "string"], description="backfill window start, yyyy-MM-dd HH:mm:ss"),
        "end": Param(None, type=["null", "string"], description="backfill window end, yyyy-MM-dd HH:mm:ss"),
        "lookback_days": Param(
            SHOP_LOOKBACK_DAYS, type="integer", minimum=0, description="days re-read for late updates"
        ),
    },
)
def ingest_shop():
    @task
    def pull_orders() -> dict:
        from siyu.ingest.shop import pull_orders as run
        from siyu.ingest.shop import window_from_conf

        context = get_current_context()
        params = context["params"]
        with _client() as client:
            return run(
                client,
                _lake(),
                run_day(context),
                window=window_from_conf(params),
                lookback_days=int(params["lookback_days"]),
            )

    @task
    def pull_users(orders: dict) -> dict:
        import pyarrow.parquet as pq

        from siyu.ingest.shop import pull_users as run
        from siyu.lake import partition_dir

        day = run_day(get_current_context())
        buyers = pq.read_table(partition_dir(_lake(), "raw", SOURCE, "orders", day.dt), columns=["yz_open_id"])
        with _client() as client:
            return {**orders, **run(client, _lake(), day, buyers.column("yz_open_id").to_pylist())}

    @task
    def validate(counts: dict) -> dict:
        from siyu.quality.raw_suites import validate_partitions

        day = run_day(get_current_context())
        validate_partitions(_lake(), SOURCE, [(entity, day.dt) for entity in RAW_ENTITIES[SOURCE]])
        return counts

    @task(outlets=raw_assets(SOURCE))
    def publish(counts: dict) -> None:
        context = get_current_context()
        day = run_day(context)
        announce(context, raw_assets(SOURCE), {"source": SOURCE, "day": day.dt, "rows": counts})
        print(f"published {SOURCE} raw entities for {day.dt}: {counts}")

    publish(validate(pull_users(pull_orders())))


ingest_shop()
