"""The raw lake: atomic partitions, reruns replace rather than duplicate, manifests count what matters."""

from __future__ import annotations

import contextlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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


class Killed(BaseException):
    """Stands for SIGKILL inside the process: nothing after it runs, no `except Exception` catches it."""


def write(root, dt, tid, **options):
    table = pa.table({"tid": [tid], "amount": [1]})
    return write_partition(root, "shop", "orders", dt, table, run_id=tid, window=("a", "b"), **options)


def kill_at_call(monkeypatch, module, name, number):
    """Raise Killed at the `number`-th call of module.name (counting from 1)."""
    original, calls = getattr(module, name), []

    def counted(*args, **kwargs):
        calls.append(args)
        if len(calls) == number:
            raise Killed(f"{name} call {number}")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


def tids(root, dt):
    return pq.read_table(partition_dir(root, "raw", "shop", "orders", dt) / "part-0.parquet").column("tid").to_pylist()


def hidden(root):
    return sorted(p.name for p in (root / "raw" / "shop" / "orders").iterdir() if p.name.startswith("."))


def test_a_write_killed_between_its_two_renames_leaves_the_old_partition(tmp_path, monkeypatch):
    """Without an atomic exchange the old folder is renamed away before the new one is renamed in: a
    crash between the two must not lose the partition (it did: the old code left it missing for good)."""
    import os

    from siyu import lake

    write(tmp_path, "2025-06-01", "old")
    monkeypatch.setattr(lake, "_exchange", lambda first, second: False, raising=False)  # the old code has none
    kill_at_call(monkeypatch, os, "rename", 2)
    kill_at_call(monkeypatch, os, "replace", 2)  # the old code's two renames
    with pytest.raises(Killed):
        write(tmp_path, "2025-06-01", "new")
    monkeypatch.undo()
    # WHEN the next write of the entity runs (another day), THEN the partition is the old one again
    write(tmp_path, "2025-06-02", "next")
    assert tids(tmp_path, "2025-06-01") == ["old"]
    assert hidden(tmp_path) == [], "the next write leaves no staging or retired folders"


def test_recover_restores_a_partition_renamed_away_and_deletes_the_rest(tmp_path):
    from siyu.lake import recover

    write(tmp_path, "2025-06-01", "old")
    write(tmp_path, "2025-06-02", "kept")
    folder = tmp_path / "raw" / "shop" / "orders"
    (folder / "dt=2025-06-01").rename(folder / ".dt=2025-06-01.old-0badcafe")  # killed between the renames
    (folder / ".dt=2025-06-02.old-12345678").mkdir()  # killed while deleting the replaced partition
    (folder / ".dt=2025-06-03.tmp-abcdef01").mkdir()  # killed while writing a new partition
    (folder / ".dt=2025-06-03.tmp-abcdef01" / "part-0.parquet").write_bytes(b"PAR1 half")
    quarantine = tmp_path / "quarantine" / "shop" / "orders" / ".dt=2025-06-01.tmp-00000000"
    quarantine.mkdir(parents=True)
    done = recover(tmp_path)
    assert len(done) == 4, done
    assert tids(tmp_path, "2025-06-01") == ["old"] and tids(tmp_path, "2025-06-02") == ["kept"]
    assert hidden(tmp_path) == [] and not quarantine.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["dt=2025-06-01", "dt=2025-06-02"]
    assert recover(tmp_path) == [], "a recovered lake has nothing left to recover"


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
@pytest.mark.parametrize("step", ["write_table", "rename", "rmtree", "fsync"])
def test_a_write_killed_at_any_step_leaves_the_old_or_the_new_partition(tmp_path, monkeypatch, exchange, step):
    """GIVEN a published partition, WHEN a replacing write dies at each call of each step, THEN readers
    see the old or the new partition (after recovery, which the next write does), whole, never a mix."""
    import os
    import shutil

    from siyu import lake

    modules = {"write_table": pq, "rename": os, "rmtree": shutil, "fsync": os}
    for number in range(1, 8):
        root = tmp_path / f"{step}-{number}"
        write(root, "2025-06-01", "old", quarantined=pa.table({"reason": ["old reject"]}))
        if not exchange:
            monkeypatch.setattr(lake, "_exchange", lambda first, second: False, raising=False)  # the old code has none
        kill_at_call(monkeypatch, modules[step], step, number)
        with contextlib.suppress(Killed):
            write(root, "2025-06-01", "new")  # a clean rerun: no rejects, so the quarantine is removed
        monkeypatch.undo()
        lake.recover(root)
        assert tids(root, "2025-06-01") in (["old"], ["new"]), f"killed at {step} call {number}"
        manifest = read_manifest(root, "shop", "orders", "2025-06-01")
        assert manifest["run_id"] == tids(root, "2025-06-01")[0], "the manifest belongs to the data beside it"
        rejects = partition_dir(root, "quarantine", "shop", "orders", "2025-06-01")
        assert not rejects.exists() or pq.read_table(rejects).column("reason").to_pylist() == ["old reject"]
        assert hidden(root) == []


def test_a_write_that_fails_leaves_the_old_partition_and_no_staging_folder(tmp_path):
    write(tmp_path, "2025-06-01", "old")
    with pytest.raises(TypeError):  # the manifest cannot be written
        write_partition(
            tmp_path,
            "shop",
            "orders",
            "2025-06-01",
            pa.table({"tid": ["x"]}),
            run_id="r",
            window=("a", "b"),
            extra={"unserialisable": object()},
        )
    assert tids(tmp_path, "2025-06-01") == ["old"] and hidden(tmp_path) == []
