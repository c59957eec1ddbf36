"""`siyu report` rendered from the small world's warehouse and driven in headless Chromium (Debian's
chromium, over the DevTools pipe): every chart draws with its labels, legends stay off the data, the
month and store filters change what is drawn, and a chart's CSV download holds the rows shown, with a
BOM. Run with the system's CJK fonts and with a fontconfig that sees only DejaVu (no CJK font at all);
screenshots of both are kept in data/test-artifacts/report/ (or $SIYU_TEST_ARTIFACTS)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from headless_chromium import Chromium

from siyu.report import render

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("SIYU_TEST_ARTIFACTS") or REPO / "data" / "test-artifacts") / "report"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
CHARTS = [
    "triangle", "trends", "gmv_tree", "community_grades", "community_groups", "rfm_segments", "lifecycle",
    "guide_league", "audiences", "clv_calibration",
]  # fmt: skip


def fonts_env(fonts: str, tmp_path: Path) -> dict[str, str]:
    """The environment Chromium runs in: the system's fonts (which must include Noto Sans CJK), or a
    fontconfig that knows only DejaVu, so no font on the machine has a Chinese glyph."""
    env = dict(os.environ)
    if fonts == "cjk":
        listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
        assert "Noto Sans CJK" in listed, "fonts-noto-cjk is required: `make system-deps` installs it"
        return env
    assert DEJAVU.is_dir(), "fonts-dejavu-core is required (Debian installs it with chromium)"
    config = tmp_path / "fonts-dejavu-only.conf"
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">'
        f"<fontconfig><dir>{DEJAVU}</dir><cachedir>{tmp_path / 'fontconfig-cache'}</cachedir>"
        # The system's rules (sans-serif is DejaVu Sans, ...) with none of its font folders.
        '<include ignore_missing="yes">/etc/fonts/conf.d</include></fontconfig>',
        encoding="utf-8",
    )
    env["FONTCONFIG_FILE"] = str(config)
    listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, env=env).stdout
    assert listed.strip() == "", f"the DejaVu-only fontconfig still lists CJK fonts: {listed}"
    return env


@pytest.fixture(scope="module")
def report(world_warehouse, tmp_path_factory) -> Path:
    return render(world_warehouse, tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def marts(world_warehouse) -> dict[str, pd.DataFrame]:
    """The models the expectations are read from, straight from the warehouse."""
    with duckdb.connect(str(world_warehouse), read_only=True) as con:
        return {
            name: con.sql(f"select * from {relation}").df()
            for name, relation in {
                "kpi_triangle": "marts.kpi_triangle",
                "groups": "staging.stg_wecom__groups",
                "guides": "intermediate.int_guides",
                "orders": "marts.fct_orders",
                "dim_stores": "marts.dim_stores",
                "dim_guides": "marts.dim_guides",
            }.items()
        }


def open_report(browser: Chromium, page: Path) -> None:
    browser.open(page.as_uri())
    wait_ready(browser)


def wait_ready(browser: Chromium, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while browser.evaluate("document.body.dataset.ready") != "1":
        assert time.monotonic() < deadline, "the report did not finish drawing"
        time.sleep(0.2)


def choose(browser: Chromium, select_id: str, value: str) -> None:
    browser.evaluate(
        f"""(() => {{ const select = document.getElementById({select_id!r});
             select.value = {value!r}; select.dispatchEvent(new Event('change')); }})()"""
    )
    time.sleep(0.1)
    wait_ready(browser)


# What each chart shows in the browser: its state, the marks drawn, all its SVG text, the legend's and
# the plot areas' boxes, and the traces Plotly drew (names, x, y, theta, r).
READ_CHARTS = """
[...document.querySelectorAll('section.chart')].map((section) => {
  const plot = section.querySelector('.plot');
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return {
    name: section.dataset.chart,
    state: section.dataset.state,
    note: section.querySelector('.note').textContent,
    marks: plot.querySelectorAll('.trace path, .trace .point, g.bars path, .scatterlayer path.js-line').length,
    text: [...plot.querySelectorAll('svg text')].map((t) => t.textContent).join('\\n'),
    legend: [...plot.querySelectorAll('g.legend')].map(box),
    titles: [...plot.querySelectorAll('.g-xtitle text, .g-ytitle text, .g-y2title text')].map(box),
    figure: plot.querySelector('.main-svg') ? box(plot.querySelector('.main-svg')) : null,
    areas: [...plot.querySelectorAll('.draglayer .nsewdrag, .polarlayer path.maindrag')].map(box),
    traces: (plot.data || []).map((t) => ({name: t.name, x: t.x, y: t.y, theta: t.theta, r: t.r})),
  };
})
"""


def charts(browser: Chromium) -> dict[str, dict]:
    return {chart["name"]: chart for chart in browser.evaluate(READ_CHARTS)}


def overlaps(first: list[float], second: list[float]) -> bool:
    return first[0] < second[2] and second[0] < first[2] and first[1] < second[3] and second[1] < first[3]


LABELS = {  # text each chart must draw: axis titles, legend entries, categories
    "triangle": ["私域产权力 ownership", "单客价值度 value", "客户推荐率 referral", "目标 target"],
    "trends": ["私域产权力 ownership", "三角面积 area", "月 month"],
    "gmv_tree": ["GMV (元)", "× UV 访客", "× 客单价 AOV (元)", "线上 online shop"],
    "community_grades": ["社群数 groups", "月份 month"],
    "community_groups": ["社群 GMV (元 yuan)"],
    "rfm_segments": ["重要价值客户", "客户数 customers", "人均消费 yuan per customer"],
    "lifecycle": ["引入期 introduction", "客户数 customers"],
    "guide_league": ["导购 GMV (元 yuan)", "新增好友 friends added"],
    "audiences": ["客户数 customers"],
    "clv_calibration": ["实际 actual", "模型预测 expected (BG/NBD)", "校准期复购天数"],
}


@pytest.mark.parametrize("fonts", ["cjk", "no_cjk"])
def test_every_chart_draws_with_its_labels(report, marts, fonts, tmp_path):
    """GIVEN the report of the small world WHEN Chromium opens it from disk (with CJK fonts, and with
    none) THEN every chart draws marks and its labels as text, and no legend covers a plot area."""
    with Chromium(tmp_path / "profile", env=fonts_env(fonts, tmp_path)) as browser:
        open_report(browser, report)
        drawn = charts(browser)
        assert sorted(drawn) == sorted(CHARTS)
        latest_month = browser.evaluate("document.getElementById('filter-month').value")
        requested = browser.requested_urls()
        header = browser.evaluate("document.querySelector('header .meta').textContent")
        browser.screenshot(ARTIFACTS / f"report-{fonts}.png")
        cjk_width = browser.evaluate(
            "(() => { const c = document.createElement('canvas').getContext('2d');"
            " c.font = '40px sans-serif'; return c.measureText('私域').width; })()"
        )
    # Opened from disk, the page asks the network for nothing (plotly.js is inline).
    assert requested and all(url.split(":")[0] in ("file", "data", "blob") for url in requested), requested
    # The header gives the data's period, not a file path.
    assert f"– {latest_month}" in header and "/" not in header
    for name, chart in drawn.items():
        if name == "clv_calibration" and "Not available" in chart["note"]:
            continue  # drawn once the clv_calibration mart is built (checked in the test below)
        assert chart["state"].endswith("|drawn"), (name, chart["state"], chart["note"])
        assert chart["marks"] > 0, name
        for label in LABELS[name]:
            assert label in chart["text"], (name, label)
        for legend in chart["legend"]:
            for area in chart["areas"] + chart["titles"]:
                assert not overlaps(legend, area), (name, "legend over the plot or an axis title", legend, area)
        for title in chart["titles"]:  # axis titles fit in the figure
            left, top, right, bottom = chart["figure"]
            assert left <= title[0] and top <= title[1] and title[2] <= right and title[3] <= bottom, (name, title)
    # Group names (not chat ids) label the communities.
    assert any(name in drawn["community_groups"]["text"] for name in marts["groups"]["group_name"].dropna())
    # With CJK fonts two ideographs are two em wide.
    if fonts == "cjk":
        assert cjk_width == pytest.approx(80, abs=1)
    else:  # Chromium really had no CJK font: the ideographs are drawn as narrower boxes
        assert abs(cjk_width - 80) > 10
    assert (ARTIFACTS / f"report-{fonts}.png").stat().st_size > 50_000


def test_filters_change_every_chart_and_csv_holds_what_is_shown(report, marts, tmp_path):
    """GIVEN the report at its latest month and all stores WHEN an analyst picks an earlier month and a
    store THEN each chart draws that month and store's data, and its CSV (with a BOM) holds those rows."""
    triangle = marts["kpi_triangle"]
    monthly = triangle[(triangle["period_grain"] == "month") & (triangle["store_id"] != "all")]
    # The store with the most connected users, two months before the last.
    months = sorted(monthly["period_start"].unique())
    month = pd.Timestamp(months[-3])
    store = monthly[monthly["period_start"] == months[-3]].sort_values("connected_users").iloc[-1]["store_id"]
    month_text = f"{month:%Y-%m}"

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with Chromium(tmp_path / "profile") as browser:
        browser.allow_downloads(downloads)
        open_report(browser, report)
        before = charts(browser)
        choose(browser, "filter-store", store)
        store_only = charts(browser)
        choose(browser, "filter-month", month_text)
        after_store = charts(browser)
        browser.evaluate("document.querySelector('section[data-chart=\"triangle\"] button.download').click()")
        browser.evaluate("document.querySelector('section[data-chart=\"guide_league\"] button.download').click()")
        choose(browser, "trend-grain", "week")
        weekly = charts(browser)["trends"]
        browser.screenshot(ARTIFACTS / "report-filtered.png")

    # Every chart but the CLV calibration (fitted once on all customers) changes with the store, then
    # with the month.
    def shown(chart: dict) -> tuple:
        return chart["traces"], chart["note"]

    for name in CHARTS:
        if name != "clv_calibration":
            assert shown(before[name]) != shown(store_only[name]), (name, "store")
            assert shown(store_only[name]) != shown(after_store[name]), (name, "month")

    # The triangle drawn is the store's row for the month in kpi_triangle.
    row = monthly[(monthly["period_start"] == months[-3]) & (monthly["store_id"] == store)].iloc[0]
    drawn = after_store["triangle"]["traces"][0]["r"][:3]
    assert drawn == pytest.approx([row["ownership_score"], row["value_score"], row["referral_score"]], abs=1e-6)

    # Only the store's guides are in the league table, and only the groups its guides own.
    # Labels are names (the staff list and store master), "guide · store".
    guide_store = marts["guides"].set_index("guide_userid")["store_id"]
    store_name = marts["dim_stores"].set_index("store_id")["store_name"].get(store, store)
    guide_by_name = marts["dim_guides"].dropna(subset=["guide_name"]).set_index("guide_name")["guide_userid"]
    league = after_store["guide_league"]["traces"][0]["y"]
    assert league and all(label.endswith(f" · {store_name}") for label in league)
    guides_shown = [guide_by_name.get(label.split(" · ")[0], label.split(" · ")[0]) for label in league]
    assert {guide_store[guide] for guide in guides_shown} == {store}
    groups = marts["groups"].drop_duplicates("chat_id", keep="last").set_index("group_name")["owner_userid"]
    shown_groups = [
        label.split(" · ")[0] for trace in after_store["community_groups"]["traces"] for label in trace["y"]
    ]
    assert shown_groups and {guide_store[groups[name]] for name in shown_groups} == {store}

    # Weekly trends: 13 weeks ending in the month chosen.
    periods = sorted({x for trace in weekly["traces"] for x in trace["x"]})
    assert 12 <= len(periods) <= 14 and periods[-1][:7] <= month_text and periods[-1] >= f"{month_text}-01"

    # The triangle's CSV: a BOM, Chinese intact, the drawn store and month with the mart's numbers.
    deadline = time.monotonic() + 20
    while len(list(downloads.glob("*.csv"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    triangle_csv = (downloads / f"siyu-triangle-{month_text}-{store}.csv").read_bytes()
    assert triangle_csv.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(triangle_csv.decode("utf-8-sig"))))
    assert lines[0][:3] == ["月份 month", "门店 store", "维度 measure"]
    scores = {line[2]: float(line[4]) for line in lines[1:]}
    assert {line[0] for line in lines[1:]} == {month_text} and {line[1] for line in lines[1:]} == {store_name}
    assert scores["私域产权力 ownership"] == pytest.approx(row["ownership_score"], abs=1e-6)
    assert scores["客户推荐率 referral"] == pytest.approx(row["referral_score"], abs=1e-6)

    # The league table's CSV: every guide of the store with a paid order in the month, and their GMV,
    # summed here from fct_orders.
    orders = marts["orders"]
    paid = orders[orders["is_paid"] & orders["guide_userid"].notna()]
    paid = paid[pd.to_datetime(paid["paid_at"]).dt.strftime("%Y-%m") == month_text]
    paid = paid[paid["guide_userid"].map(guide_store) == store]
    league_csv = (downloads / f"siyu-guide_league-{month_text}-{store}.csv").read_bytes()
    assert league_csv.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(league_csv.decode("utf-8-sig"))))
    with_orders = {
        guide_by_name.get(row["导购 guide"], row["导购 guide"]): float(row["GMV (元)"])
        for row in rows
        if float(row["订单 orders"]) > 0
    }
    expected = paid.groupby("guide_userid")["gross_amount"].sum().astype(float).to_dict()
    assert with_orders == pytest.approx(expected)


def test_clv_calibration_chart(report, world_warehouse):
    """The CLV calibration draws expected beside actual for every frequency bucket when the mart is
    built, and says it is not available when it is not."""
    with duckdb.connect(str(world_warehouse), read_only=True) as con:
        try:
            calibration = con.sql("select * from marts.clv_calibration").df()
        except duckdb.CatalogException:
            calibration = None
    with Chromium(report.parent / "profile-clv") as browser:
        open_report(browser, report)
        chart = charts(browser)["clv_calibration"]
    if calibration is None:
        assert "Not available" in chart["note"] and chart["state"].endswith("|empty")
        return
    buckets = calibration[calibration["frequency_bucket"] != "all"].sort_values("bucket_order")
    actual, expected = chart["traces"]
    assert actual["x"] == list(buckets["frequency_bucket"])
    assert actual["y"] == pytest.approx(list(buckets["actual_repeat_purchases"]), abs=1e-6)
    assert expected["y"] == pytest.approx(list(buckets["expected_repeat_purchases"]), abs=1e-6)


def test_a_warehouse_without_marts_renders_a_page_that_says_so(tmp_path):
    """GIVEN a warehouse with no models built yet WHEN the report is rendered THEN it does not fail: the
    page opens and every chart says there is nothing to draw."""
    warehouse = tmp_path / "empty.duckdb"
    duckdb.connect(str(warehouse)).close()
    page = render(warehouse, tmp_path / "report")
    with Chromium(tmp_path / "profile") as browser:
        open_report(browser, page)
        drawn = charts(browser)
    assert sorted(drawn) == sorted(CHARTS)
    for name, chart in drawn.items():
        assert chart["state"].endswith("|empty") and "nothing to draw" in chart["note"], name


@pytest.mark.parametrize("exposure", ["analyst_report", "identity_report", "demo_summary"])
def test_each_consumer_reads_exactly_its_exposures_models(exposure, world_warehouse, tmp_path, monkeypatch, capsys):
    """GIVEN the small world's warehouse WHEN the report renders, the identity report prints and the demo
    summary reads (recorded at siyu.warehouse's read, the only way they reach the warehouse) THEN the
    models each one read are exactly those its dbt exposure lists (models/reports/_exposures.yml)."""
    from siyu_sim.demo import _read_summary
    from test_python_sql import exposures

    from siyu.identity_report import print_report
    from siyu.warehouse.duckdb import DuckDBWarehouse

    reads: list[str] = []
    read = DuckDBWarehouse.read

    def recorded(self, model):
        reads.append(model)
        return read(self, model)

    monkeypatch.setattr(DuckDBWarehouse, "read", recorded)
    run = {
        "analyst_report": lambda: render(world_warehouse, tmp_path / "report"),
        "identity_report": lambda: print_report(world_warehouse),
        "demo_summary": lambda: _read_summary(world_warehouse),
    }
    run[exposure]()
    assert set(reads) == exposures()[exposure]
