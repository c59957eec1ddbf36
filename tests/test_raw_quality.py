"""The raw quality gate: a clean partition passes; a broken one fails naming entity and expectation."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from siyu.lake import write_partition
from siyu.quality.raw_suites import RawQualityError, validate_frame, validate_lake, validate_partitions


def test_duplicate_keys_and_bad_values_are_named(tmp_path):
    amounts = {"price": ["9.90", "1.00"], "total_fee": ["9.90", "1.00"], "payment": ["9.90", "1.00"]}
    good = pa.table({"tid": ["E1", "E2"], "oid": ["1", "2"], "num": [1, 2], **amounts})
    bad = pa.table({"tid": ["E1", None], "oid": ["1", "1"], "num": [0, 2], **amounts})
    write_partition(tmp_path, "shop", "order_items", "2025-01-01", good, run_id="r", window=("a", "b"))
    write_partition(tmp_path, "shop", "order_items", "2025-01-02", bad, run_id="r", window=("a", "b"))
    assert validate_partitions(tmp_path, "shop", [("order_items", "2025-01-01")])[0].success
    with pytest.raises(RawQualityError) as raised:
        validate_partitions(tmp_path, "shop", [("order_items", "2025-01-01"), ("order_items", "2025-01-02")])
    report = str(raised.value)
    assert "1 of 1 shop entit(ies)" in report and "shop/order_items dt=2025-01-01..2025-01-02" in report
    assert "expect_column_values_to_be_unique on oid" in report
    assert "expect_column_values_to_not_be_null on tid" in report
    assert "expect_column_values_to_be_between on num" in report


def test_state_longer_than_30_chars_fails():
    frame = pd.DataFrame({"config_id": ["c1"], "state": ["x" * 31]})
    report = validate_frame("wecom", "contact_ways", "2025-01-01", frame)
    assert not report.success and "expect_column_value_lengths_to_be_between on state" in report.failures[0]


def test_a_whole_lake_is_validated_day_by_day_for_pulls_and_at_once_for_store_loads(tmp_path):
    relation = {
        "external_userid": ["wm1"],
        "userid": ["g1"],
        "createtime": [1_750_000_000],
        "add_way": [1],
        "state": [""],
    }
    for dt in ("2025-06-01", "2025-06-02"):  # the same friendship in two daily snapshots is no duplicate
        write_partition(tmp_path, "wecom", "follow_relations", dt, pa.table(relation), run_id="r", window=(dt, dt))
    store_frame = {
        **{"card_no": ["M1"], "store_id": ["S0001"], "gender": ["1"], "birthday": [""]},
        **{"registered_at": ["2025-06-01 09:00:00"], "marketing_opt_in": ["Y"]},
    }
    write_partition(tmp_path, "store", "members", "2025-06-01", pa.table(store_frame), run_id="r", window=("a", "b"))
    write_partition(tmp_path, "store", "members", "2025-06-02", pa.table(store_frame), run_id="r", window=("a", "b"))
    with pytest.raises(RawQualityError) as raised:
        validate_lake(tmp_path)
    report = str(raised.value)
    assert "store/members dt=2025-06-01..2025-06-02 (2 partitions)" in report, report
    assert "expect_column_values_to_be_unique on card_no" in report and "wecom" not in report
    assert report.count("    - ") == 1, report  # the member is fine but for being landed twice

    doubled = {key: values * 2 for key, values in relation.items()}
    write_partition(
        tmp_path, "wecom", "follow_relations", "2025-06-03", pa.table(doubled), run_id="r", window=("a", "b")
    )
    with pytest.raises(RawQualityError) as raised:
        validate_lake(tmp_path)
    assert "wecom/follow_relations dt=2025-06-03" in str(raised.value)
    assert "expect_compound_columns_to_be_unique" in str(raised.value)


def test_history_from_1990_passes_and_earlier_or_impossible_times_fail():
    """History imports start in 1990 (issue 15); the gate's window and calendar are staging's casts' (issue 17)."""
    line = {
        **{"receipt_no": "R1", "line_no": "1", "store_id": "S0001", "sku": "SKU1", "qty": "1"},
        **{"unit_price": "9.90", "amount": "9.90"},
    }
    for sold_at, passes in (
        ("1990-01-01 00:00:00", True),
        ("1996-02-29 12:00:00", True),
        ("1989-12-31 23:59:59", False),
        ("1995-02-29 12:00:00", False),
        ("9999-12-31 23:59:59", False),
    ):
        report = validate_frame("store", "pos_lines", "1990-01-01", pd.DataFrame([{**line, "sold_at": sold_at}]))
        assert report.success is passes, (sold_at, report.failures)
    relation = {"external_userid": ["wm1"], "userid": ["g1"], "add_way": [1], "state": [""]}
    for createtime, passes in ((631_152_000, True), (631_151_999, False)):
        frame = pd.DataFrame({**relation, "createtime": [createtime]})
        assert validate_frame("wecom", "follow_relations", "1990-01-01", frame).success is passes, createtime
