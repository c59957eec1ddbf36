"""What the report reads: whole models, each through `select * from <schema>.<model>` and nothing else
(issue 20: no SQL logic in Python). Filtering, joining names and summing across stores happen here in
pandas; the dbt exposure `analyst_report` (dbt_project/models/kpis/_kpis.yml) lists the same models.

A model that is not in the warehouse (a mart not built yet, a brand whose sources do not give it) reads
as None; the report then says the chart is not available instead of failing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pandas as pd

log = logging.getLogger(__name__)

# name → relation. Any may be missing from a warehouse: clv_calibration in older builds, dim_stores and
# dim_guides until a source gives store and guide names.
RELATIONS = {
    "kpi_availability": "marts.kpi_availability",
    "kpi_triangle": "marts.kpi_triangle",
    "kpi_gmv_tree": "marts.kpi_gmv_tree",
    "kpi_gmv_new_returning": "marts.kpi_gmv_new_returning",
    "kpi_stores": "marts.kpi_stores",
    "kpi_guides": "marts.kpi_guides",
    "kpi_community": "marts.kpi_community",
    "kpi_community_summary": "marts.kpi_community_summary",
    "customer_segments_daily": "marts.customer_segments_daily",
    "dim_customers": "marts.dim_customers",
    "fct_orders": "marts.fct_orders",
    "clv_calibration": "marts.clv_calibration",
    "dim_stores": "marts.dim_stores",
    "dim_guides": "marts.dim_guides",
    "audience_assignments": "audiences.audience_assignments",
    "rfm_segments": "reference.rfm_segments",
    "lifecycle_stages": "reference.lifecycle_stages",
    # No mart carries these yet (see the module docstring of siyu.report): the guide's store, the
    # group's name and a guide's friendships are read where they live today.
    "int_guides": "intermediate.int_guides",
    "stg_wecom__groups": "staging.stg_wecom__groups",
    "stg_wecom__follow_relations": "staging.stg_wecom__follow_relations",
}


def read(con: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame | None:
    """Every row and column of one model, or None when the warehouse has no such model or cannot read it
    (a staging view over lake files that are not there, e.g. a warehouse copied without its lake)."""
    try:
        return con.sql(f"select * from {relation}").df()
    except duckdb.CatalogException:
        return None
    except duckdb.IOException as error:
        log.warning("report: %s cannot be read (%s); its charts show as not available", relation, error)
        return None


def read_all(warehouse: Path) -> dict[str, pd.DataFrame | None]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {name: read(con, relation) for name, relation in RELATIONS.items()}
