"""The store system's master data (issue 19): the store master (门店档案) and the staff list (导购档案) land
under the store file contract, and the marts dim_stores / dim_guides carry the world's names."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from siyu.ingest.run_day import RunDay
from siyu.ingest.store import ingest_files


def test_vendor_staff_file_in_gbk_with_its_own_column_order_lands_and_a_row_without_userid_is_quarantined(
    tmp_path,
):
    # GIVEN a staff list as a vendor's zh-CN export writes it: GBK (no BOM), its own column order and
    # header spelling, an extra column (备注), a row whose userid is empty, and the same row twice
    drops, lake = tmp_path / "drops", tmp_path / "lake"
    text = (
        "Status,Name,Store_ID, UserID ,备注\r\n"
        "active,王芳,S0001,guide00001,店长\r\n"
        "resigned,李娜,S0002,guide00007,\r\n"
        "active,张伟,S0002,,新员工未开通账号\r\n"
        "resigned,李娜,S0002,guide00007,\r\n"
    )
    path = drops / "staff" / "staff_2025-06-30.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("gbk"))

    # WHEN the store ingest loads the drop folder
    result = ingest_files(drops, lake, RunDay(day=date(2025, 6, 30), run_id="test"))

    # THEN the two guides land as store/staff with their Chinese names, in the contract's column names
    landed = pq.read_table(lake / "raw/store/staff/dt=2025-06-30/part-0.parquet").to_pandas()
    assert sorted(zip(landed["userid"], landed["name"], landed["store_id"], landed["status"], strict=True)) == [
        ("guide00001", "王芳", "S0001", "active"),
        ("guide00007", "李娜", "S0002", "resigned"),
    ]
    # the row without a userid is set aside with its line and reason
    quarantined = pd.concat(pd.read_parquet(p) for p in (lake / "quarantine/store/staff").rglob("*.parquet"))
    assert list(quarantined["line"]) == [4]
    assert quarantined["reason"].iloc[0] == "userid: empty"
    assert "张伟" in quarantined["raw"].iloc[0]
    # and every record is accounted for: 4 read = 2 landed + 1 quarantined + 1 duplicate
    manifest = json.loads(next((lake / "raw/store/staff/dt=2025-06-30").glob("_manifest*.json")).read_text())
    (entry,) = manifest["files"]
    assert (entry["encoding"], entry["lines_read"], entry["landed"], entry["quarantined"], entry["duplicates"]) == (
        "gbk",
        4,
        2,
        1,
        1,
    )
    assert result["entities"]["staff"]["loaded"] == 2


def test_a_later_store_master_snapshot_supersedes_an_earlier_one_of_the_same_day(tmp_path):
    # GIVEN the store master sent twice on one day, the second with a corrected name
    drops, lake = tmp_path / "drops", tmp_path / "lake"
    header = "store_id,store_name,city,opened_on\r\n"
    first = drops / "stores" / "stores_2025-06-30.csv"
    first.parent.mkdir(parents=True)
    first.write_bytes((header + "S0001,上海1号店,上海,2023-11-28\r\n").encode("utf-8"))
    resend = drops / "stores" / "stores_2025-06-30_resend.csv"
    resend.write_bytes((header + "S0001,上海南京路店,上海,2023-11-28\r\n").encode("utf-8-sig"))

    # WHEN it is loaded
    ingest_files(drops, lake, RunDay(day=date(2025, 6, 30), run_id="test"))

    # THEN the resend's row is the one that lands
    landed = pq.read_table(lake / "raw/store/stores/dt=2025-06-30/part-0.parquet").to_pandas()
    assert list(landed["store_name"]) == ["上海南京路店"]


def test_dim_stores_and_dim_guides_carry_the_worlds_names(world_warehouse, small_world):
    # The world's truth: stores and staff as generated (never read by the pipeline).
    stores = pd.read_parquet(small_world / "store/stores.parquet")
    staff = pd.read_parquet(small_world / "wecom/staff.parquet")
    with duckdb.connect(str(world_warehouse), read_only=True) as con:
        dim_stores = con.sql("select * from marts.dim_stores").df()
        dim_guides = con.sql("select * from marts.dim_guides").df()
        int_guides = con.sql("select guide_userid from intermediate.int_guides").df()

    # Every store, with its name and city.
    assert dict(zip(dim_stores["store_id"], dim_stores["store_name"], strict=True)) == dict(
        zip(stores["store_id"], stores["store_name"], strict=True)
    )
    assert dict(zip(dim_stores["store_id"], dim_stores["city"], strict=True)) == dict(
        zip(stores["store_id"], stores["city"], strict=True)
    )
    # Every guide int_guides lists appears once, and named as the world names them, at the world's store.
    assert sorted(dim_guides["guide_userid"]) == sorted(int_guides["guide_userid"])
    assert len(dim_guides) > 10
    truth = staff.set_index("userid")
    assert set(dim_guides["guide_userid"]) <= set(truth.index)
    for guide, name, store, store_name in zip(
        dim_guides["guide_userid"],
        dim_guides["guide_name"],
        dim_guides["store_id"],
        dim_guides["store_name"],
        strict=True,
    ):
        assert (name, store) == (truth.at[guide, "name"], truth.at[guide, "store_id"]), guide
        assert store_name == stores.set_index("store_id").at[store, "store_name"], guide
    # Guides who left by the end of the world are listed as resigned.
    end = json.loads((small_world / "world.json").read_text())
    last = end["start_ts"] + end["days"] * 86_400
    left = set(truth.index[truth["resigned_at"] < last])
    assert left and left & set(dim_guides["guide_userid"])
    status = dict(zip(dim_guides["guide_userid"], dim_guides["staff_status"], strict=True))
    assert {guide for guide, value in status.items() if value == "resigned"} == left & set(status)


def test_guide_facing_export_names_the_guide_from_the_staff_list(small_world, warehouse_copy, tmp_path):
    """GIVEN the small world's audiences WHEN they are exported THEN the guide-facing CSV's 导购 column is the
    guide's name in the world's staff list, not their WeCom account."""
    from siyu.activation import export_audiences

    staff = pd.read_parquet(small_world / "wecom/staff.parquet")
    name_of = dict(zip(staff["userid"], staff["name"], strict=True))
    manifests = export_audiences(warehouse_copy, tmp_path / "exports", date(2025, 12, 31), "t")
    checked = 0
    for audience in manifests:
        guides = pd.read_csv(
            tmp_path / "exports" / audience / "2025-12-31" / f"{audience}_导购.csv", dtype=str, encoding="utf-8-sig"
        )
        for account, shown in zip(guides["导购账号"], guides["导购"], strict=True):
            if isinstance(account, str):  # group rows have no guide
                assert shown == name_of[account], (audience, account)
                checked += 1
    assert checked > 50
