"""`siyu airflow` never deletes another instance's (or the demo's) data without being asked."""

from __future__ import annotations

import json

from siyu.cli import main


def test_siyu_airflow_refuses_a_folder_holding_another_world(tmp_path, capsys):
    # GIVEN a folder holding a world of another day (the demo's, or an instance started last week), with
    # a lake and a warehouse built from it
    world = tmp_path / "world"
    world.mkdir()
    meta = {"scale": 20000, "seed": 42, "format_version": -1, "start": "2025-01-01", "end_ts": 1767196800}
    (world / "world.json").write_text(json.dumps(meta), encoding="utf-8")
    (tmp_path / "lake").mkdir()
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "warehouse" / "siyu.duckdb").write_bytes(b"built")

    # WHEN `siyu airflow` is started on it without --fresh
    code = main(["airflow", "--data-dir", str(tmp_path), "--port", "1"])

    # THEN it stops, says why and what to do, and deletes nothing
    assert code == 2
    assert (tmp_path / "warehouse" / "siyu.duckdb").read_bytes() == b"built"
    assert (world / "world.json").exists() and (tmp_path / "lake").exists()
