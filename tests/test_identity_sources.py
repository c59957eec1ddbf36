"""The Spark clustering bench at 1M builds its identity graph from a lake holding only the sources the graph
reads (siyu_sim.replay.land_identity_sources): that graph must be the one dbt builds from the whole lake
(land_world), or the bench measures another graph than the pipeline's."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from siyu_sim.replay import land_identity_sources, land_world
from siyu_sim.server import RunningSimulators

from siyu.transform import dbt_build

GRAPH_MODELS = "+int_identity_edges +int_identity_nodes"


def identity_graph(lake, warehouse, world) -> tuple[pd.DataFrame, pd.DataFrame]:
    """dbt's identity graph over `lake`: the nodes (id, key) and the edges with the record behind each."""
    counter_phones = pd.read_parquet(world / "store" / "stores.parquet", columns=["counter_phone"])
    result = dbt_build(
        lake,
        warehouse,
        truth=world / "truth",
        select=GRAPH_MODELS,
        dbt_vars={"identity_shared_phones": sorted(counter_phones["counter_phone"].dropna().unique().tolist())},
        unit_tests=False,
    )
    assert result.success, result.failures
    with duckdb.connect(str(warehouse), read_only=True) as con:
        nodes = con.sql("select node_id, node_key from intermediate.int_identity_nodes order by node_id").df()
        edges = con.sql(
            "select from_node_id, to_node_id, source_name, record_id from intermediate.int_identity_edges order by all"
        ).df()
    return nodes, edges


@pytest.mark.integration
def test_identity_sources_give_the_identity_graph_of_the_whole_lake(small_world, tmp_path):
    # GIVEN the small world landed twice on the day after its last: whole, and only the identity sources
    with RunningSimulators(small_world) as sim:
        land_world(sim, small_world, tmp_path / "whole" / "lake", tmp_path / "whole" / "drops")
        counts = land_identity_sources(
            sim, small_world, tmp_path / "identity" / "lake", tmp_path / "identity" / "drops"
        )
    assert counts["users"] > 0 and counts["group_members"] > 0 and counts["follow_relations"] > 0
    # WHEN dbt builds the identity graph from each lake
    whole = identity_graph(tmp_path / "whole" / "lake", tmp_path / "whole" / "wh" / "siyu.duckdb", small_world)
    identity = identity_graph(tmp_path / "identity" / "lake", tmp_path / "identity" / "wh" / "siyu.duckdb", small_world)
    # THEN the nodes, numbered alike, and the edges, record by record, are the same
    assert len(whole[0]) > 1000 and len(whole[1]) > 1000
    pd.testing.assert_frame_equal(identity[0], whole[0])
    pd.testing.assert_frame_equal(identity[1], whole[1])
    # and the lake holds nothing else: no messages, statistics or visits landed
    landed = {folder.name for folder in (tmp_path / "identity" / "lake" / "raw").glob("*/*")}
    assert {"messages", "user_behavior", "group_statistic", "shop_visits", "corp_tags"}.isdisjoint(landed)
