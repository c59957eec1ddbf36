"""The raw lake: atomic partitions, reruns replace rather than duplicate, manifests count what matters."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from siyu.lake import partition_dir, read_manifest, write_partition


def test_rerun_replaces_the_partition_and_keeps_counts(tmp_path):
    first = pa.table({"tid": ["a", "b", "c"], "amount": [1, 2, 3]})
    rejected = pa.table({"file": ["x.csv"], "line": [7], "raw": ["bad"], "reason": ["sold_at: bad date"]})
    write_partition(
        tmp_path,
        "shop",
        "orders",
        "2025-06-01",
        first,
        run_id="r1",
        window=("2025-06-01T00:00:00+08:00", "2025-06-02T00:00:00+08:00"),
        quarantined=rejected,
    )
    quarantine = pq.read_table(partition_dir(tmp_path, "quarantine", "shop", "orders", "2025-06-01"))
    assert quarantine.column("reason").to_pylist() == ["sold_at: bad date"]
    assert read_manifest(tmp_path, "shop", "orders", "2025-06-01")["quarantined"] == 1
    second = pa.table({"tid": ["a", "b"], "amount": [1, 5]})
    manifest = write_partition(
        tmp_path,
        "shop",
        "orders",
        "2025-06-01",
        second,
        run_id="r2",
        window=("2025-06-01T00:00:00+08:00", "2025-06-02T00:00:00+08:00"),
    )
    folder = partition_dir(tmp_path, "raw", "shop", "orders", "2025-06-01")
    assert pq.read_table(folder).to_pydict() == {"tid": ["a", "b"], "amount": [1, 5]}
    assert read_manifest(tmp_path, "shop", "orders", "2025-06-01") == manifest
    assert manifest["rows"] == 2 and manifest["run_id"] == "r2" and len(manifest["checksum_sha256"]) == 64
    assert not partition_dir(tmp_path, "quarantine", "shop", "orders", "2025-06-01").exists()
    leftovers = [p.name for p in folder.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "no staging or retired folders remain"


def test_same_input_gives_the_same_checksum(tmp_path):
    table = pa.table({"id": list(range(100))})
    window = ("a", "b")
    one = write_partition(tmp_path / "1", "wecom", "contacts", "2025-01-01", table, run_id="x", window=window)
    two = write_partition(tmp_path / "2", "wecom", "contacts", "2025-01-01", table, run_id="y", window=window)
    assert one["checksum_sha256"] == two["checksum_sha256"]
