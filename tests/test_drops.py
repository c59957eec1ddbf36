"""Store drops and the session archive: encodings, flaws listed in truth, complete data recoverable."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from siyu_sim.drops import store_encoding, write_archive, write_store_drops

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def drops(small_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("drops")
    summary = write_store_drops(small_world, out, 0, 120)
    archive = write_archive(small_world, out, 0, 30)
    return out, summary, archive


def _decode(raw: bytes, encoding: str) -> str:
    return raw.decode("utf-8-sig" if encoding != "gbk" else "gbk")


def test_files_use_each_store_encoding(small_world, drops):
    out, summary, _ = drops
    assert summary["files"] > 50
    encodings = set()
    for path in (out / "pos").rglob("*.csv"):
        encoding = store_encoding(path.parent.name, 5)
        encodings.add(encoding)
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
        text = _decode(raw, encoding)
        assert text.startswith("receipt_no,line_no,store_id,sold_at")
    assert "utf-8" in encodings


def test_flaws_are_listed_and_data_is_recoverable(small_world, drops):
    out, summary, _ = drops
    flaws = pd.read_parquet(small_world / "truth/store_drop_flaws.parquet")
    assert {"bad_date", "duplicate_line"} <= set(flaws["flaw"])
    truncated = flaws[flaws["flaw"] == "truncated_last_line"]
    for _, flaw in truncated.iterrows():
        path = out / flaw["file"]
        store = path.parent.name
        text = _decode(path.read_bytes(), store_encoding(store, 5))
        assert not text.endswith("\r\n"), "the last line is cut"
        resend = path.with_name(path.stem + "_resend.csv")
        complete = list(csv.reader(io.StringIO(_decode(resend.read_bytes(), store_encoding(store, 5)))))
        assert len(complete[-1]) == 12
    # Every POS line of the period is in some file (bad dates aside, which must be quarantined).
    rows = set()
    for path in (out / "pos").rglob("*.csv"):
        text = _decode(path.read_bytes(), store_encoding(path.parent.name, 5))
        for line in list(csv.reader(io.StringIO(text)))[1:]:
            if len(line) == 12:
                rows.add((line[0], int(line[1])))
    assert len(rows) == summary["pos_lines"]


def test_archive_lines_have_the_session_archive_shape(drops):
    out, _, archive = drops
    files = sorted((out / "archive").glob("*.jsonl"))
    assert len(files) == archive["files"] == 31
    record = json.loads(files[0].read_text(encoding="utf-8").splitlines()[0])
    assert set(record) == {"msgid", "action", "from", "tolist", "roomid", "msgtime", "msgtype", "text"}
    assert set(record["text"]) == {"content"} and record["msgtime"] > 10**12
    total = sum(len(f.read_text(encoding="utf-8").splitlines()) for f in files)
    assert total == archive["messages"]
