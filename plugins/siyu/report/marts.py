"""What the report reads: the models in MODELS, each whole through siyu.warehouse (`select * from` and
nothing else; issue 20). Filtering, joining names and summing across stores happen in pandas; what needs
more (the guide league, the guide's store, group names) is a report model in dbt_project/models/reports.
The dbt exposure `analyst_report` (dbt_project/models/reports/_exposures.yml) lists exactly these models.

A model that is not in the warehouse (a mart not built yet, a brand whose sources do not give it) reads
as None; the report then says the chart is not available instead of failing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# Any may be missing from a warehouse: clv_calibration in older builds, dim_stores and dim_guides until a
# source gives store and guide names.
MODELS = (
    "kpi_availability",
    "kpi_triangle",
    "kpi_gmv_tree",
    "kpi_gmv_new_returning",
    "kpi_stores",
    "kpi_guides",
    "kpi_community",
    "kpi_community_summary",
    "customer_segments_daily",
    "dim_customers",
    "clv_calibration",
    "dim_stores",
    "dim_guides",
    "audience_assignments",
    "rfm_segments",
    "lifecycle_stages",
    "rpt_guide_stores",
    "rpt_group_names",
    "rpt_guide_league",
)


def read_all(warehouse: Path) -> dict[str, pd.DataFrame | None]:
    from siyu.warehouse import open_warehouse, read_models

    with open_warehouse(warehouse) as wh:
        return read_models(wh, MODELS)
