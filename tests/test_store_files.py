"""Store files: every encoding decodes, every flawed row is quarantined with its reason, nothing is lost."""

from __future__ import annotations

import pandas as pd
import pytest

from siyu.connectors.store_files import detect_encoding, parse_store_file
from siyu.sim.drops import write_store_drops

pytestmark = pytest.mark.integration


def test_encoding_detection():
    text = "receipt_no,category\nS0001-1,护肤\n"
    assert detect_encoding(text.encode("utf-8")) == "utf-8"
    assert detect_encoding(b"\xef\xbb\xbf" + text.encode("utf-8")) == "utf-8-sig"
    assert detect_encoding(text.encode("gbk")) == "gbk"


def test_drops_parse_completely_with_flaws_quarantined(small_world, tmp_path):
    summary = write_store_drops(small_world, tmp_path, 0, 90)
    flaws = pd.read_parquet(small_world / "truth/store_drop_flaws.parquet")
    parsed = [parse_store_file(path, "pos") for path in sorted((tmp_path / "pos").rglob("*.csv"))]
    rows = pd.DataFrame([row for p in parsed for row in p.rows])
    quarantined = pd.DataFrame([q for p in parsed for q in p.quarantined])
    assert {p.encoding for p in parsed} >= {"utf-8"}
    assert sum(p.duplicates for p in parsed) == (flaws["flaw"] == "duplicate_line").sum()
    reasons = quarantined["reason"]
    assert reasons.str.startswith("sold_at").sum() == (flaws["flaw"] == "bad_date").sum()
    assert reasons.str.startswith("truncated").sum() == (flaws["flaw"] == "truncated_last_line").sum()
    assert quarantined["line"].min() >= 2 and quarantined["file"].str.endswith(".csv").all()
    # Resent files repeat rows: the lake keys on (receipt_no, line_no). Nothing is lost but the bad dates.
    unique_rows = rows.drop_duplicates(["receipt_no", "line_no"])
    assert len(unique_rows) == summary["pos_lines"] - (flaws["flaw"] == "bad_date").sum()
    world = pd.read_parquet(small_world / "store/pos_lines.parquet")
    merged = unique_rows.merge(world.astype({"line_no": str}), on=["receipt_no", "line_no"], suffixes=("", "_world"))
    assert len(merged) == len(unique_rows)
    assert (merged["category"] == merged["category_world"]).all(), "GBK and BOM files decode to the same text"


def test_member_files_parse(small_world, tmp_path):
    write_store_drops(small_world, tmp_path, 0, 60)
    parsed = [parse_store_file(path, "members") for path in (tmp_path / "members").rglob("*.csv")]
    assert sum(len(p.rows) for p in parsed) > 0
    assert all(not p.quarantined for p in parsed)


def test_a_file_with_the_wrong_header_is_quarantined_whole(tmp_path):
    path = tmp_path / "pos_S0001_2025-01-01.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    parsed = parse_store_file(path, "pos")
    assert parsed.rows == [] and "unexpected header" in parsed.quarantined[0]["reason"]
