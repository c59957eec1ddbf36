"""`siyu report`: the analyst report, one HTML file that opens from disk (issues 9 and 19).

Interactive Plotly charts (plotly.js inline, no network) drawn in the browser from the marts, so Chinese
labels use the viewer's fonts: the private-domain triangle, KPI trends by day, week or month, the GMV
tree, community grades and the month's best communities, RFM segments, the lifecycle flow, the guide
league table, the day's audiences and the CLV calibration. A month and a store chosen at the top apply
to every chart; each chart's table downloads as CSV with a BOM. Charts whose KPIs the brand's sources
cannot give say why (kpi_availability).

Names: groups are named from rpt_group_names (the latest group snapshot); stores and guides from the
marts `dim_stores` (store_id, store_name) and `dim_guides` (guide_userid, guide_name) when the warehouse
has them (the store master and staff list drop files), else they show as ids. What the report reads:
siyu.report.marts.MODELS.
"""

from __future__ import annotations

import logging
from pathlib import Path

from siyu.report.marts import read_all
from siyu.report.page import SECTIONS, write_page
from siyu.report.tables import build, names

log = logging.getLogger(__name__)

__all__ = ["SECTIONS", "render"]


def render(warehouse: Path, out: Path) -> Path:
    """Write the report to out/index.html and return its path."""
    frames = read_all(Path(warehouse))
    report = build(frames)
    report["names"] = names(frames)
    out.mkdir(parents=True, exist_ok=True)
    page = write_page(report, out)
    drawn = sum(report["tables"][name] is not None for name, *_ in SECTIONS)
    log.info("report: %d of %d charts have data → %s", drawn, len(SECTIONS), page)
    return page
