"""`siyu report`: a static HTML report for analysts, rendered from the marts (issue 9).

One self-contained file (charts are inline SVG drawn by matplotlib, no network needed): the private-domain
triangle as a radar, community grades by month, RFM segment sizes and value, the lifecycle flow over the
history kept, the GMV tree by month, and a guide league table. Each chart sits in a
`<figure class="chart" data-chart="...">`; a small script marks each figure with the size its chart drew
at, which the browser test reads.
"""

from __future__ import annotations

import html
import io
import logging
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

log = logging.getLogger(__name__)

GRADE_ORDER = ["S", "A", "B", "C", "D", "ungraded"]
PALETTE = ["#2f6f9f", "#e07b39", "#4c9a5b", "#b5475b", "#7d62a8", "#9c8d5b", "#5aa7a7", "#999999", "#cccccc"]


def _svg(figure) -> str:
    import warnings

    buffer = io.StringIO()
    with warnings.catch_warnings():
        # Text is kept as text in the SVG (the browser's fonts draw it): matplotlib's missing-glyph
        # warnings about CJK in its own fonts do not apply.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _fonts() -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: the browser draws CJK with its own fonts
            "font.family": ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "DejaVu Sans", "sans-serif"],
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def triangle_radar(triangle: pd.Series) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    labels = ["私域产权力\nownership", "单客价值度\nvalue", "客户推荐率\nreferral"]
    scores = [triangle["ownership_score"], triangle["value_score"], triangle["referral_score"]]
    angles = np.linspace(0, 2 * np.pi, 3, endpoint=False).tolist()
    figure, axis = plt.subplots(figsize=(5, 5), subplot_kw={"polar": True})
    axis.plot(angles + angles[:1], scores + scores[:1], color=PALETTE[0], linewidth=2)
    axis.fill(angles + angles[:1], scores + scores[:1], color=PALETTE[0], alpha=0.25)
    axis.plot(angles + angles[:1], [1, 1, 1, 1], color=PALETTE[1], linestyle="--", linewidth=1, label="target")
    axis.set_xticks(angles, labels)
    axis.set_ylim(0, max(1.2, max(scores) * 1.1))
    axis.set_title(f"Triangle area {triangle['triangle_area']:.3f}", pad=20)
    axis.legend(loc="lower right", bbox_to_anchor=(1.2, -0.1))
    return _svg(figure)


def grade_distribution(grades: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    table = grades.pivot_table(index="month", columns="grade", values="groups", fill_value=0)
    table = table.reindex(columns=[g for g in GRADE_ORDER if g in table.columns])
    figure, axis = plt.subplots(figsize=(9, 4))
    bottom = None
    for number, grade in enumerate(table.columns):
        axis.bar(table.index, table[grade], bottom=bottom, label=grade, color=PALETTE[number % len(PALETTE)])
        bottom = table[grade] if bottom is None else bottom + table[grade]
    axis.set_ylabel("groups")
    axis.set_title("Community grades by month (S ≥30% activity and ≥20% pay conversion … D ≥1%/1%)")
    axis.legend(ncol=6, fontsize=8)
    axis.tick_params(axis="x", rotation=45)
    return _svg(figure)


def rfm_segments(segments: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 4.5))
    labels = [f"{zh}\n{en}" for zh, en in zip(segments["segment_zh"], segments["segment_en"], strict=True)]
    axis.bar(labels, segments["customers"], color=PALETTE[0])
    axis.set_ylabel("customers")
    axis.tick_params(axis="x", labelsize=7, rotation=45)
    value = axis.twinx()
    value.plot(labels, segments["monetary"], color=PALETTE[1], marker="o", label="net spend (yuan)")
    value.set_ylabel("net spend in the window (yuan)")
    value.legend(loc="upper right")
    axis.set_title("RFM segments: customers and the value they bring")
    return _svg(figure)


def lifecycle_flow(stages: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    table = stages.pivot_table(index="snapshot_date", columns="stage", values="customers", fill_value=0)
    order = [s for s in ["引入期 introduction", "成长期 growth", "成熟期 maturity", "休眠期 dormant", "流失期 churned"]]
    table = table.reindex(columns=[s for s in order if s in table.columns])
    figure, axis = plt.subplots(figsize=(9, 4))
    axis.stackplot(table.index, *[table[c] for c in table.columns], labels=table.columns, colors=PALETTE)
    axis.set_ylabel("customers")
    axis.set_title("Lifecycle flow: customers per stage, day by day")
    axis.legend(loc="upper left", fontsize=8, ncol=3)
    axis.tick_params(axis="x", rotation=30)
    return _svg(figure)


def gmv_tree(tree: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    factors = [("uv", "UV"), ("conversion", "conversion"), ("aov", "AOV (yuan)"), ("purchase_frequency", "frequency")]
    figure, axes = plt.subplots(1, 5, figsize=(14, 3.2))
    axes[0].bar(tree["month"], tree["gmv"].astype(float), color=PALETTE[0])
    axes[0].set_title("online GMV")
    for axis, (column, title) in zip(axes[1:], factors, strict=True):
        axis.plot(tree["month"], tree[column].astype(float), marker="o", color=PALETTE[1])
        axis.set_title(f"× {title}")
    for axis in axes:
        axis.tick_params(axis="x", rotation=90, labelsize=7)
    figure.suptitle("GMV tree (online shop): GMV = UV × conversion × AOV × frequency", y=1.05)
    return _svg(figure)


def load(warehouse: Path) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        month = con.sql("select max(period_start) from marts.kpi_triangle where period_grain = 'month'").fetchall()[0][
            0
        ]

        def q(sql: str) -> pd.DataFrame:
            return con.sql(sql).df()

        return {
            "month": month,
            "triangle": q(
                f"""select * from marts.kpi_triangle where period_grain = 'month' and store_id = 'all'
                    and period_start = '{month}'"""
            ).iloc[0],
            "grades": q(
                """select strftime(period_start, '%Y-%m') as month, grade, count(*) as groups
                   from marts.kpi_community where period_grain = 'month' group by 1, 2 order by 1"""
            ),
            "segments": q(
                """select s.segment_zh, s.segment_en, count(r.customer_id) as customers,
                          coalesce(avg(r.monetary), 0) as monetary
                   from reference.rfm_segments s left join marts.customer_rfm r using (rfm_segment)
                   group by s.segment_zh, s.segment_en, s.segment_order order by s.segment_order"""
            ),
            "stages": q(
                """select d.snapshot_date, l.stage_zh || ' ' || l.stage_en as stage, count(*) as customers
                   from marts.customer_segments_daily d join reference.lifecycle_stages l using (lifecycle_stage)
                   group by 1, 2 order by 1"""
            ),
            "tree": q(
                """select strftime(period_start, '%Y-%m') as month, uv, conversion, aov, purchase_frequency, gmv
                   from marts.kpi_gmv_tree where period_grain = 'month' and channel = 'online' order by 1"""
            ),
            "guides": q(
                """with sales as (
                       select guide_userid, count(*) as orders, sum(gross_amount) as gmv,
                              count(distinct customer_id) as buyers
                       from marts.fct_orders where is_paid and guide_userid is not null group by 1),
                   friends as (
                       select guide_userid, count(*) as customers,
                              cast(sum(case when add_way = 202 then 1 else 0 end) as integer) as inherited
                       from staging.stg_wecom__follow_relations group by 1)
                   select g.guide_userid, g.store_id, coalesce(f.customers, 0) as customers,
                          coalesce(f.inherited, 0) as inherited, coalesce(s.buyers, 0) as buyers,
                          coalesce(s.orders, 0) as orders, coalesce(s.gmv, 0) as gmv
                   from intermediate.int_guides g
                   left join friends f using (guide_userid) left join sales s using (guide_userid)
                   order by gmv desc, g.guide_userid limit 20"""
            ),
            "audiences": q(
                "select audience, count(*) as customers from audiences.audience_assignments group by 1 order by 2 desc"
            ),
        }


def _table(frame: pd.DataFrame, money: tuple[str, ...] = ()) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            text = f"{float(value):,.0f}" if column in money else html.escape(str(value))
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>siyu report</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "PingFang SC", system-ui, sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #222; }}
h1 {{ margin-bottom: 0; }} .meta {{ color: #666; }}
figure.chart {{ margin: 2rem 0; padding: 1rem; border: 1px solid #ddd; border-radius: 6px; overflow-x: auto; }}
figure.chart svg {{ max-width: 100%; height: auto; }}
figcaption {{ font-weight: 600; margin-bottom: .5rem; }}
table {{ border-collapse: collapse; font-size: .9rem; }}
th, td {{ padding: .3rem .6rem; border-bottom: 1px solid #eee; }}
th {{ text-align: left; }} td {{ text-align: right; }} td:first-child {{ text-align: left; }}
</style></head>
<body>
<h1>siyu · private-domain report</h1>
<p class="meta">Warehouse {warehouse} · month {month} · rendered {rendered}</p>
{sections}
<script>
// Mark each chart with the size it drew at, so a headless browser test can tell it rendered.
window.addEventListener("load", () => {{
  document.querySelectorAll("figure.chart").forEach((figure) => {{
    const drawn = figure.querySelector("svg, table");
    const box = drawn ? drawn.getBoundingClientRect() : {{ width: 0, height: 0 }};
    figure.dataset.rendered = `${{Math.round(box.width)}}x${{Math.round(box.height)}}`;
  }});
  document.body.dataset.charts = document.querySelectorAll("figure.chart").length;
}});
</script>
</body></html>
"""


def render(warehouse: Path, out: Path) -> Path:
    """Write the report to out/index.html and return its path."""
    _fonts()
    data = load(warehouse)
    figures = [
        (
            "triangle",
            "私域三角 The private-domain triangle (scores against the brand targets)",
            triangle_radar(data["triangle"]),
        ),
        ("community_grades", "社群分级 Community grades", grade_distribution(data["grades"])),
        ("rfm_segments", "RFM 分层 Segment sizes and value", rfm_segments(data["segments"])),
        ("lifecycle_flow", "生命周期 Lifecycle flow", lifecycle_flow(data["stages"])),
        ("gmv_tree", "GMV 公式 The GMV tree", gmv_tree(data["tree"])),
        (
            "guide_league",
            "导购榜 Guide league table (top 20 by attributed GMV)",
            _table(data["guides"], money=("gmv",)),
        ),
        ("audiences", "人群 Audiences of the day", _table(data["audiences"])),
    ]
    sections = "\n".join(
        f'<figure class="chart" data-chart="{name}"><figcaption>{html.escape(title)}</figcaption>{body}</figure>'
        for name, title, body in figures
    )
    out.mkdir(parents=True, exist_ok=True)
    page = out / "index.html"
    page.write_text(
        PAGE.format(
            warehouse=html.escape(str(warehouse)),
            month=f"{data['month']:%Y-%m}",
            rendered=datetime.now().strftime("%Y-%m-%d %H:%M"),
            sections=sections,
        ),
        encoding="utf-8",
    )
    log.info("report: %d charts → %s", len(figures), page)
    return page
