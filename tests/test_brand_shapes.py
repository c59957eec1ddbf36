"""A brand chooses its sources (issue 15): three brand shapes built end to end from the small world.

GIVEN the session's landed lake, copied with only the brand's sources (a store-only brand has no raw/wecom
nor raw/shop), WHEN `dbt_build` runs with SIYU_SOURCES naming them, THEN the build and every dbt test
pass, the marts hold the brand's customers, every audience table exists (empty where it needs an absent
source), every table keeps the columns and types it has with all sources, and the KPIs the brand cannot
compute say why. The all-sources shape is the session's world warehouse, built by the same `dbt_build`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from siyu.config import ALL_SOURCES
from siyu.orchestration import AUDIENCES, RAW_ENTITIES
from siyu.quality.raw_suites import validate_lake
from siyu.transform import PROJECT_DIR, BuildResult, dbt_build

pytestmark = pytest.mark.integration

SHAPES = {
    "store_only": ("store",),
    "wecom_and_store": ("wecom", "store"),
    "all_sources": ALL_SOURCES,
}
KPI_TABLES = (
    "kpi_gmv_tree",
    "kpi_gmv_new_returning",
    "kpi_community",
    "kpi_community_summary",
    "kpi_guides",
    "kpi_channels",
    "kpi_stores",
    "kpi_store_categories",
    "kpi_triangle",
)


@dataclass
class Shape:
    name: str
    sources: tuple[str, ...]
    lake: Path
    warehouse: Path
    build: BuildResult | None  # None for all sources: the session's world warehouse, already built

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.sql(sql).fetchall()

    def scalar(self, sql: str):
        return self.query(sql)[0][0]


def brand_lake(landed: Path, sources: tuple[str, ...], into: Path) -> Path:
    """A copy of the landed lake holding only the brand's sources."""
    shutil.copytree(landed, into)
    for absent in set(ALL_SOURCES) - set(sources):
        shutil.rmtree(into / "raw" / absent)
    return into


@pytest.fixture(scope="module", params=list(SHAPES))
def shape(request, world_warehouse, tmp_path_factory) -> Shape:
    landed = world_warehouse.parents[1] / "lake"
    sources = SHAPES[request.param]
    if sources == ALL_SOURCES:
        return Shape(request.param, sources, landed, world_warehouse, None)
    root = tmp_path_factory.mktemp(request.param)
    lake = brand_lake(landed, sources, root / "lake")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SIYU_SOURCES", ",".join(sources))
        result = dbt_build(lake, root / "wh" / "siyu.duckdb")
    return Shape(request.param, sources, lake, root / "wh" / "siyu.duckdb", result)


@pytest.fixture(scope="module")
def full_columns(world_warehouse) -> dict:
    """Every built table's columns and types with all sources."""
    return table_columns(world_warehouse)


def table_columns(warehouse: Path) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.sql(
            """select table_schema || '.' || table_name, column_name, data_type from information_schema.columns
               where table_schema in ('staging', 'intermediate', 'marts', 'audiences', 'reports')
               order by table_schema, table_name, ordinal_position"""
        ).fetchall()
    columns: dict = {}
    for table, column, data_type in rows:
        columns.setdefault(table, []).append((column, data_type))
    return columns


def test_the_shape_builds_and_every_dbt_test_passes(shape):
    if shape.build is not None:
        assert shape.build.success, shape.build.failures
        assert not shape.build.failures


def test_every_table_keeps_its_columns_and_types_whatever_sources_are_absent(shape, full_columns):
    assert table_columns(shape.warehouse) == full_columns


def staging_models() -> dict[tuple[str, str], str]:
    """The staging model of each landed entity (drop, entity): stg_<dbt source>__<table>, the dbt source
    named by its system (the session archive, landed by the store drop, is stg_wecom__messages)."""
    declared = yaml.safe_load((PROJECT_DIR / "models/staging/_sources.yml").read_text(encoding="utf-8"))
    return {
        (
            table.get("meta", {}).get("lake_source", source["meta"]["lake_source"]),
            table.get("identifier", table["name"]),
        ): f"stg_{source['name']}__{table['name']}"
        for source in declared["sources"]
        for table in source["tables"]
    }


def test_staging_of_absent_sources_is_empty_and_of_present_ones_is_not(shape):
    models = staging_models()
    for source, entities in RAW_ENTITIES.items():
        rows = {entity: shape.scalar(f"select count(*) from staging.{models[(source, entity)]}") for entity in entities}
        if source in shape.sources:
            assert all(rows.values()), f"{shape.name}: {source} staging has empty models: {rows}"
        else:
            assert not any(rows.values()), f"{shape.name}: absent {source} gave rows: {rows}"


def test_the_marts_hold_the_brands_customers(shape):
    customers = shape.scalar("select count(*) from marts.dim_customers")
    assert customers > 0
    id_types = {row[0] for row in shape.query("select distinct id_type from marts.customer_identifiers")}
    flags = shape.query(
        """select count_if(has_shop_account), count_if(is_wecom_contact), count_if(is_member),
                  count_if(not is_member and phones = 0)
           from marts.dim_customers"""
    )[0]
    shop_accounts, wecom_contacts, members, with_no_store_identifier = flags
    if shape.sources == ("store",):
        # A store-only brand knows its customers by member card and phone, from store data alone.
        assert id_types == {"member_card", "phone"}
        assert shop_accounts == wecom_contacts == with_no_store_identifier == 0
        cards = set(pq.read_table(shape.lake / "raw/store/members").column("card_no").to_pylist())
        assert members > 0
        assert shape.scalar("select count(*) from marts.customer_identifiers where id_type = 'member_card'") == len(
            cards
        )
    if "wecom" in shape.sources:
        assert wecom_contacts > 0
        assert "external_userid" in id_types
    if "shop" not in shape.sources:
        assert shop_accounts == 0
        assert "yz_open_id" not in id_types
    else:
        assert shop_accounts > 0
    assert shape.scalar("select count(*) from marts.customer_rfm") == customers


def test_every_audience_builds_and_those_needing_wecom_are_empty_without_it(shape):
    sizes = {audience: shape.scalar(f"select count(*) from audiences.aud_{audience}") for audience in AUDIENCES}
    if "wecom" not in shape.sources:
        # Audiences act through a guide's chat or a customer group: nothing to act through without WeCom.
        assert not any(sizes.values()), sizes
    else:
        assert shape.scalar("select count(*) from audiences.audience_assignments") > 0
        assert sizes["first_order_nudge"] > 0 and sizes["group_invitation"] > 0, sizes


def test_the_guide_league_says_unknown_for_friendships_without_wecom(shape):
    friends = shape.query("select distinct friends_added is null, inherited is null from reports.rpt_guide_league")
    assert shape.scalar("select count(*) from reports.rpt_guide_league") > 0
    if "wecom" in shape.sources:
        assert friends == [(False, False)]
    else:  # no friendship data: unknown, not zero
        assert friends == [(True, True)]


def test_the_kpis_a_shape_cannot_compute_say_why(shape):
    reasons = {
        table: {row[0] for row in shape.query(f"select distinct unavailable_reason from marts.{table}")}
        for table in KPI_TABLES
    }
    unavailable = {
        (kpi_model, measures): reason
        for kpi_model, measures, reason in shape.query(
            "select kpi_model, measures, unavailable_reason from marts.kpi_availability where not is_available"
        )
    }
    for table, values in reasons.items():
        # The table's column joins the reasons kpi_availability gives its measures, on every row.
        assert len(values) <= 1, f"{table}: one reason per table, got {values}"
        expected = {reason for (kpi_model, _), reason in unavailable.items() if kpi_model == table}
        for value in values:
            assert set(value.split("; ") if value else []) == expected, table
    if shape.sources == ALL_SOURCES:
        assert not unavailable
        assert all(values == {None} for values in reasons.values()), reasons
        return
    if "wecom" not in shape.sources:
        # Without WeCom there are no groups nor friendships: community and channel KPIs are empty and say
        # why in kpi_availability; the triangle's ownership is computed from what there is, and says so.
        for table in ("kpi_community", "kpi_community_summary", "kpi_channels"):
            assert shape.scalar(f"select count(*) from marts.{table}") == 0
            assert unavailable[(table, "all")].startswith("no WeCom source:")
        triangle = next(iter(reasons["kpi_triangle"]))
        assert "no WeCom source: reachable, marketable and serviceable" in triangle
        assert "no WeCom source: a guide's customers" in next(iter(reasons["kpi_guides"]))
        # The session archive is WeCom's messages: without WeCom no guide activity, whatever the store drops.
        assert "guide activity needs the WeCom session archive" in next(iter(reasons["kpi_guides"]))
    else:
        assert shape.scalar("select count(*) from marts.kpi_community") > 0
    if "shop" not in shape.sources:
        assert shape.scalar("select count(*) from marts.kpi_gmv_tree where channel = 'online' and orders > 0") == 0
        assert "no shop source: online (Youzan) orders are not counted" in next(iter(reasons["kpi_gmv_tree"]))
        assert "uv and conversion need the shop's visit tracking export" in next(iter(reasons["kpi_gmv_tree"]))
    if "store" in shape.sources:
        assert reasons["kpi_stores"] == {None}
        assert shape.scalar("select sum(gmv) from marts.kpi_gmv_tree where channel = 'store'") > 0


def test_the_raw_gates_pass_and_skip_absent_entities(shape):
    reports = validate_lake(shape.lake)
    assert all(report.success for report in reports)
    assert {report.source for report in reports} == set(shape.sources)


def test_sources_yml_declares_the_landed_parquet_schemas(world_warehouse):
    """The columns an absent entity builds empty with are the ones a landed entity has."""
    lake = world_warehouse.parents[1] / "lake"
    declared = yaml.safe_load((PROJECT_DIR / "models/staging/_sources.yml").read_text(encoding="utf-8"))
    # A dbt source is named by its system; its files are where its drop lands them (meta lake_source,
    # the table's identifier): every landed entity is declared once.
    located = set(staging_models())
    assert len(located) == sum(len(source["tables"]) for source in declared["sources"])
    assert located == {(drop, entity) for drop, entities in RAW_ENTITIES.items() for entity in entities}
    with duckdb.connect() as con:
        for source in declared["sources"]:
            for table in source["tables"]:
                drop = table.get("meta", {}).get("lake_source", source["meta"]["lake_source"])
                landed = con.sql(
                    f"""describe select * from read_parquet(
                            '{lake}/raw/{drop}/{table.get("identifier", table["name"])}/dt=*/part-0.parquet',
                            hive_partitioning = true, union_by_name = true)"""
                ).fetchall()
                assert [(column["name"], column["data_type"].upper()) for column in table["columns"]] == [
                    (name, data_type) for name, data_type, *_ in landed
                ], f"{source['name']}.{table['name']}"


def test_a_crashed_writes_leftover_is_not_read(world_warehouse, tmp_path, monkeypatch):
    """A `.dt=...tmp-*` folder a crashed write left (issue 17) is not a partition: staging ignores it."""
    lake = brand_lake(world_warehouse.parents[1] / "lake", ("store",), tmp_path / "lake")
    published = sorted((lake / "raw/store/members").glob("dt=*"))[-1]
    leftover = published.parent / f".{published.name}.tmp-crashed"
    shutil.copytree(published, leftover)
    monkeypatch.setenv("SIYU_SOURCES", "store")
    result = dbt_build(lake, tmp_path / "wh" / "siyu.duckdb", select="stg_store__members")
    assert result.success, result.failures
    with duckdb.connect(str(tmp_path / "wh" / "siyu.duckdb"), read_only=True) as con:
        staged = con.sql("select count(*) from staging.stg_store__members").fetchall()[0][0]
    cards = pq.read_table(lake / "raw/store/members", partitioning="hive").column("card_no").to_pylist()
    assert staged == len(set(cards))
