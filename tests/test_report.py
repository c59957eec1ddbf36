"""`siyu report` rendered from the small world's warehouse and opened in headless Chromium (Debian's
chromium package): every chart draws, and a screenshot is kept."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from siyu.report import render

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]
CHARTS = ["triangle", "community_grades", "rfm_segments", "lifecycle_flow", "gmv_tree", "guide_league", "audiences"]
SCREENSHOT = Path(__file__).resolve().parents[1] / "data" / "test-artifacts" / "report.png"


def test_every_chart_renders_in_chromium(world_warehouse, tmp_path):
    assert CHROMIUM, "Debian's chromium is required (.ci/run installs it)"
    page = render(world_warehouse, tmp_path / "report")
    profile = ["--user-data-dir=" + str(tmp_path / "chromium")]
    dom = subprocess.run(
        [CHROMIUM, *FLAGS, *profile, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'data-charts="7"' in dom
    rendered = dict(re.findall(r'data-chart="(\w+)" data-rendered="(\d+x\d+)"', dom))
    assert sorted(rendered) == sorted(CHARTS)
    for chart, size in rendered.items():
        width, height = (int(n) for n in size.split("x"))
        assert width > 200 and height > 40, (chart, size)
    # The SVG charts carry their data: the radar has its three axes, the segments chart its Chinese names.
    assert "私域产权力" in dom and "重要价值客户" in dom
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [CHROMIUM, *FLAGS, *profile, "--window-size=1300,5200", f"--screenshot={SCREENSHOT}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and SCREENSHOT.stat().st_size > 50_000
