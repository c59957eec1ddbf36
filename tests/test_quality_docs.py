"""Great Expectations results kept as Data Docs: a validation writes a page under the data folder and
logs where it is, so a user opens it from the task log."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from siyu.quality.raw_suites import validate_frame


def test_a_failed_gate_leaves_a_page_the_log_names(tmp_path, monkeypatch, caplog):
    """GIVEN a Data Docs folder WHEN a partition with a duplicate key and a null is validated THEN the task
    log names an HTML page in that folder, and the page shows the failed expectations and the bad value."""
    monkeypatch.setenv("SIYU_GX_DOCS_DIR", str(tmp_path / "gx_docs"))
    frame = pd.DataFrame({"config_id": ["c1", "c1", None], "state": ["s1", "s2", "s3"]})
    with caplog.at_level(logging.INFO, logger="siyu.quality.raw_suites"):
        report = validate_frame("wecom", "contact_ways", "2025-12-31", frame)
    assert not report.success
    (line,) = [r.getMessage() for r in caplog.records if "Data Docs" in r.getMessage()]
    page = Path(re.search(r"file://(\S+\.html)", line).group(1))
    assert "FAILED" in line and page.is_file() and page.is_relative_to(tmp_path / "gx_docs")
    html = page.read_text(encoding="utf-8")
    assert "config_id" in html and "c1" in html
    assert (tmp_path / "gx_docs" / "index.html").is_file()


def test_without_a_data_folder_nothing_is_written(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("SIYU_GX_DOCS_DIR", raising=False)
    monkeypatch.delenv("SIYU_LAKE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="siyu.quality.raw_suites"):
        assert validate_frame(
            "wecom", "contact_ways", "2025-12-31", pd.DataFrame({"config_id": ["c1"], "state": ["s1"]})
        ).success
    assert not any("Data Docs" in r.getMessage() for r in caplog.records) and not list(tmp_path.iterdir())
