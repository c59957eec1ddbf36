"""Store files: each encoding a till, the vendor or Excel writes (UTF-8, UTF-8 with a BOM, GBK, GB18030)
decodes to the same rows, every flawed row is quarantined with its reason, nothing is lost."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from siyu_sim.drops import MEMBER_COLUMNS, store_encoding, write_store_drops

from siyu.connectors.store_files import UnreadableFile, detect_encoding, parse_store_file

pytestmark = pytest.mark.integration


def test_encoding_detection():
    text = "receipt_no,category\nS0001-1,护肤\n"
    assert detect_encoding(text.encode("utf-8")) == "utf-8"
    assert detect_encoding(b"\xef\xbb\xbf" + text.encode("utf-8")) == "utf-8-sig"
    assert detect_encoding(text.encode("gbk")) == "gbk"
    assert detect_encoding("𠀾".encode("gb18030")) == "gb18030"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("护肤,女装\n".encode("gbk")[:-2] + b",\n", "not UTF-8"),
        (b"\xef\xbb\xbf" + "护肤".encode("gbk"), "byte order mark"),
        ("护肤\n".encode("gbk") + "女装\n".encode(), "mixes encodings: line 2"),
        ("护肤".encode("utf-16"), "not UTF-8"),
    ],
    ids=["cut GBK character", "BOM then GBK", "GBK and UTF-8 lines", "UTF-16"],
)
def test_no_encoding_is_guessed(raw, reason):
    with pytest.raises(UnreadableFile, match=reason):
        detect_encoding(raw)


def test_drops_parse_completely_with_flaws_quarantined(small_world, tmp_path):
    summary = write_store_drops(small_world, tmp_path, 0, 90)
    flaws = pd.read_parquet(small_world / "truth/store_drop_flaws.parquet")
    parsed = [parse_store_file(path, "pos") for path in sorted((tmp_path / "pos").rglob("*.csv"))]
    rows = pd.DataFrame([row for p in parsed for row in p.rows])
    quarantined = pd.DataFrame([q for p in parsed for q in p.quarantined])
    # Each store's file is read in the encoding its till wrote (the small world's tills write UTF-8 and
    # UTF-8 with a BOM; GBK and GB18030 are written below).
    seed = json.loads((small_world / "world.json").read_text(encoding="utf-8"))["seed"]
    written = {path.parent.name: store_encoding(path.parent.name, seed) for path in (tmp_path / "pos").rglob("*.csv")}
    assert {(Path(p.path).parent.name, p.encoding) for p in parsed} == set(written.items())
    assert len(set(written.values())) >= 2
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
    assert (merged["category"] == merged["category_world"]).all(), "files with and without a BOM decode alike"


MEMBERS = [
    ["M000000001", "S0001", "13312393950", "邓鹏明", "1", "1976-12-28", "2025-05-01 10:00:00", "Y"],
    ["M000000002", "S0001", "13512780818", "曾飞", "2", "1990-05-14", "2025-05-02 11:30:00", "N"],
]
# A name only GB18030 can write (䶮, U+4DAE, outside GBK): a vendor's till that writes GB18030 has it.
RARE_NAME = ["M000000003", "S0001", "13912924931", "刘䶮", "1", "2001-07-02", "2025-05-03 09:00:00", "Y"]


def excel_csv(rows: list[list[str]]) -> str:
    """A member file as Excel and the tills write one: CRLF line ends, fields quoted only when needed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([MEMBER_COLUMNS, *rows])
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("encoding", "rows", "written"),
    [
        ("utf-8", [*MEMBERS, RARE_NAME], lambda text: text.encode("utf-8")),
        # Excel's "CSV UTF-8 (逗号分隔)": a byte order mark before UTF-8.
        ("utf-8-sig", [*MEMBERS, RARE_NAME], lambda text: text.encode("utf-8-sig")),
        # Excel's plain "CSV (逗号分隔)" on zh-CN Windows: code page 936, GBK (no rare name: GBK cannot hold it).
        ("gbk", MEMBERS, lambda text: text.encode("cp936")),
        ("gb18030", [*MEMBERS, RARE_NAME], lambda text: text.encode("gb18030")),
    ],
    ids=["utf-8", "utf-8 with BOM (Excel CSV UTF-8)", "gbk (Excel CSV, zh-CN)", "gb18030 (vendor till)"],
)
def test_each_encoding_decodes_to_the_rows_written(tmp_path, encoding, rows, written):
    path = tmp_path / "members_S0001_2025-05-03.csv"
    path.write_bytes(written(excel_csv(rows)))
    parsed = parse_store_file(path, "members")
    assert parsed.encoding == encoding
    assert parsed.quarantined == []
    assert [[row[column] for column in MEMBER_COLUMNS[:4]] for row in parsed.rows] == [row[:4] for row in rows]


def test_member_files_parse(small_world, tmp_path):
    write_store_drops(small_world, tmp_path, 0, 60)
    parsed = [parse_store_file(path, "members") for path in (tmp_path / "members").rglob("*.csv")]
    assert sum(len(p.rows) for p in parsed) > 0
    assert all(not p.quarantined for p in parsed)


def test_a_file_with_the_wrong_header_is_quarantined_whole_every_line_counted(tmp_path):
    path = tmp_path / "pos_S0001_2025-01-01.csv"
    path.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    parsed = parse_store_file(path, "pos")
    assert parsed.rows == [] and parsed.lines_read == len(parsed.quarantined) == 3
    assert [q["line"] for q in parsed.quarantined] == [1, 2, 3]
    assert all("missing columns" in q["reason"] for q in parsed.quarantined)


def test_a_quoted_newline_is_one_record_quarantined_at_its_first_line(tmp_path):
    """The record that starts on line 3 spans lines 3-4 and is rejected (bad qty); line 5 lands."""
    header = "receipt_no,line_no,store_id,sold_at,card_no,phone,salesperson,sku,category,qty,unit_price,amount"
    good = "S0001-1,1,S0001,2025-12-30 10:00:00,,,,SKU1,护肤,1,9.00,9.00"
    multi_line = 'S0001-2,1,S0001,2025-12-30 10:00:00,,,,"SKU\n2",护肤,x,9.00,9.00'
    path = tmp_path / "pos_S0001_2025-12-30.csv"
    path.write_bytes(f"{header}\r\n{good}\r\n{multi_line}\r\n{good.replace('S0001-1', 'S0001-3')}\r\n".encode())
    parsed = parse_store_file(path, "pos")
    assert [q["line"] for q in parsed.quarantined] == [3] and parsed.quarantined[0]["reason"].startswith("qty")
    assert len(parsed.rows) == 2 and parsed.lines_read == 3
