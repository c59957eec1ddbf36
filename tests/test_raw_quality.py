"""The raw quality gate: a clean partition passes; a broken one fails naming entity and expectation."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from siyu.lake import write_partition
from siyu.quality.raw_suites import RawQualityError, validate_frame, validate_partitions


def test_duplicate_keys_and_bad_values_are_named(tmp_path):
    good = pa.table({"tid": ["E1", "E2"], "oid": ["1", "2"], "num": [1, 2], "payment": ["9.90", "1.00"]})
    bad = pa.table({"tid": ["E1", None], "oid": ["1", "1"], "num": [0, 2], "payment": ["9.90", "1.00"]})
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
