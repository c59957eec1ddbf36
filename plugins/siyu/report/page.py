"""The report page: one HTML file with plotly.js inline (no CDN, no server: it opens from disk), the
report's tables as JSON, and report.js, which draws every chart for the month and store chosen."""

from __future__ import annotations

import html
import json
from datetime import datetime
from importlib import resources
from pathlib import Path

from siyu.report.tables import UNKNOWN_STORE

# (name, title, what it shows). The order is the page's.
SECTIONS = [
    ("triangle", "私域三角 The private-domain triangle",
     "Ownership, value and referral against the brand's targets (1.0 = target), for the month and store chosen."),
    ("trends", "指标趋势 KPI trends",
     "A KPI group over time by day, week or month; the month chosen ends the window."),
    ("gmv_tree", "GMV 公式 The GMV tree",
     "GMV and its factors by month up to the month chosen (dotted line), by channel; for one store, its till."),
    ("community_grades", "社群分级 Community grades",
     "Groups per grade each month (S ≥30% activity and ≥20% pay conversion … D ≥1%/1%); the month chosen is outlined."),
    ("community_groups", "社群榜 Communities of the month",
     "The groups with the most GMV in the month, coloured by grade, with their owner."),
    ("rfm_segments", "RFM 分层 Segments",
     "Customers per RFM segment and their net spend, as of the month's last daily snapshot."),
    ("lifecycle", "生命周期 Lifecycle flow",
     "Customers per lifecycle stage, day by day through the month."),
    ("guide_league", "导购榜 Guide league table",
     "Guides by GMV attributed to them in the month (share links and till sales), with the friends they added."),
    ("audiences", "人群 Audiences of the day",
     "Customers per audience and channel on the day the audiences were computed."),
    ("clv_calibration", "CLV 校准 CLV calibration",
     "Repeat purchase days per customer in the holdout period, actual against the BG/NBD model's "
     "expectation, by the customers' repeat purchase days in the calibration period (Fader, Hardie and "
     "Lee 2005, figure 4)."),
]  # fmt: skip

TREND_CONTROLS = (
    '<div class="controls"><label>指标 Measure<select id="trend-group"></select></label>'
    '<label>粒度 Grain<select id="trend-grain"></select></label></div>'
)

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style></head>
<body data-ready="0">
<header>
<h1>siyu 私域报告 · Private-domain report</h1>
<p class="meta">{meta}</p>
<div class="filters">
<label>月份 Month<select id="filter-month"></select></label>
<label>门店 Store<select id="filter-store"></select></label>
</div>
<div id="availability"></div>
</header>
<main>
{sections}
</main>
<footer>{footer}</footer>
<script>{plotly}</script>
<script id="report-data" type="application/json">{data}</script>
<script>{script}</script>
</body></html>
"""


def _section(name: str, title: str, about: str) -> str:
    controls = TREND_CONTROLS if name == "trends" else ""
    return (
        f'<section class="chart" data-chart="{name}"><h2>{html.escape(title)}</h2>'
        f'<p class="about">{html.escape(about)}</p>{controls}<p class="note"></p>'
        f'<div class="plot" id="plot-{name}"></div>'
        f'<button class="download" type="button">下载表格 CSV · Download table</button></section>'
    )


def _asset(name: str) -> str:
    return resources.files("siyu.report").joinpath(name).read_text(encoding="utf-8")


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_page(report: dict, out: Path) -> Path:
    period = report["period"]
    names = report["names"]
    span = f"{period['first_day']} – {period['last_day']}" if period["first_day"] else "no KPI days built"
    stores = [store for store in period["stores"] if store != UNKNOWN_STORE]  # 'unknown' is a bucket, not a store
    meta = (
        f"数据期 Data {span} · {len(stores)} stores · {len(period['months'])} months"
        f" · rendered {datetime.now():%Y-%m-%d %H:%M}"
    )
    missing = [kind[:-1] for kind in ("stores", "guides") if not names[kind]]
    footer = (
        f"No {' or '.join(missing)} names in the warehouse yet: shown by their ids." if missing else ""
    ) + " Tables download as UTF-8 CSV with a BOM (Excel opens Chinese as is)."
    data = json.dumps(report, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    page = out / "index.html"
    page.write_text(
        PAGE.format(
            title=html.escape(f"siyu 私域报告 {span}"),
            css=_asset("report.css"),
            meta=html.escape(meta),
            sections="\n".join(_section(*section) for section in SECTIONS),
            footer=html.escape(footer.strip()),
            plotly=_plotly_js(),
            data=data,
            script=_asset("report.js"),
        ),
        encoding="utf-8",
    )
    return page
