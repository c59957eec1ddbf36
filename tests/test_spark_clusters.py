"""The Spark twin of int_identity_clusters (models/intermediate/spark, macros/spark_clusters.sql), run
through `dbt run --target spark` in a subprocess, gives every node the cluster scipy gives it, on graphs
shaped to break a clustering loop: a long path, stars, isolated nodes, a random sparse graph, duplicate and
self edges, no graph at all. Its rounds grow with log n, and a loop that cannot converge fails loudly,
leaving no work table behind."""

from __future__ import annotations

import math

import numpy as np
import pytest
from siyu_sim.spark_clusters import Graph, cluster_on_spark, node_keys

from siyu.identity import connected_clusters

pytestmark = [pytest.mark.integration, pytest.mark.spark]

PATH_NODES = 10_000
# Large-star/small-star shrinks a path by about half a round (Kiveris et al. 2014): 14 rounds at 10,000.
ROUNDS_PER_LOG2_N = 2
MODEL_COLUMNS = {
    "node_id": "bigint",
    "node_key": "string",
    "id_type": "string",
    "id_value": "string",
    "cluster_key": "string",
    "cluster_size": "bigint",
}
MODEL_TABLES = ["int_identity_clusters", "int_identity_edges", "int_identity_nodes"]


def path_graph(n_nodes: int) -> Graph:
    """Nodes joined in key order, 0-1-2-...: label propagation would need n passes."""
    return Graph(n_nodes, np.arange(n_nodes - 1), np.arange(1, n_nodes))


def mixed_graph(seed: int = 7) -> Graph:
    """Components of many shapes under one random numbering, so their ids interleave: stars whose hub is
    not their smallest node, isolated nodes, a random sparse graph of 50,000 nodes (a giant component and
    many small ones), a path walked backwards, and duplicate and self edges."""
    rng = np.random.default_rng(seed)
    parts, offset = [], 0

    def add(n_nodes: int, from_local: np.ndarray, to_local: np.ndarray) -> None:
        nonlocal offset
        parts.append((from_local + offset, to_local + offset))
        offset += n_nodes

    for size in (2, 3, 50, 2_000):  # stars: the hub is the middle node
        hub = size // 2
        leaves = np.array([node for node in range(size) if node != hub])
        add(size, np.full(len(leaves), hub), leaves)
    add(500, np.array([], dtype=np.int64), np.array([], dtype=np.int64))  # isolated nodes
    random_nodes = 50_000
    random_edges = rng.integers(0, random_nodes, size=(2, 30_000))
    add(random_nodes, random_edges[0], random_edges[1])
    add(3_000, np.arange(1, 3_000), np.arange(0, 2_999))  # a path, each edge from the larger node
    from_ids, to_ids = (np.concatenate(side) for side in zip(*parts, strict=True))
    # Every edge of the first 1,000 twice, one of them reversed; 300 self edges, 100 of them on nodes alone.
    from_ids, to_ids = np.concatenate([from_ids, to_ids[:1000]]), np.concatenate([to_ids, from_ids[:1000]])
    selves = np.concatenate([rng.integers(0, offset, 200), np.arange(2_055, 2_155)])  # 2,055..: isolated
    from_ids, to_ids = np.concatenate([from_ids, selves]), np.concatenate([to_ids, selves])
    numbering = rng.permutation(offset)
    return Graph(offset, numbering[from_ids], numbering[to_ids])


GRAPHS = {
    "path": path_graph(PATH_NODES),
    "mixed": mixed_graph(),
    "empty": Graph(0, np.array([], dtype=np.int64), np.array([], dtype=np.int64)),
    "round_limit": path_graph(1_000),
}


@pytest.fixture(scope="module")
def spark_runs(tmp_path_factory):
    """Each graph through the real model on Spark; round_limit with too few rounds allowed to converge."""
    return cluster_on_spark(
        GRAPHS, tmp_path_factory.mktemp("spark-clusters"), dbt_vars={"round_limit": {"identity_cluster_max_rounds": 3}}
    )


def assert_clusters_are_scipys(run, graph: Graph) -> None:
    assert run.success, run.messages
    assert run.column_types == MODEL_COLUMNS
    clusters = run.clusters
    assert clusters["node_id"].tolist() == list(range(graph.n_nodes))
    keys = np.array(node_keys(graph.n_nodes), dtype=object)
    assert clusters["node_key"].tolist() == keys.tolist()
    cluster_id, cluster_size = connected_clusters(graph.n_nodes, graph.from_ids, graph.to_ids)
    wrong = np.flatnonzero(clusters["cluster_key"].to_numpy(dtype=object) != keys[cluster_id])
    assert len(wrong) == 0, f"{len(wrong)} nodes in the wrong cluster, first {wrong[:5].tolist()}"
    assert (clusters["cluster_size"].to_numpy() == cluster_size).all()


@pytest.mark.parametrize("name", ["path", "mixed", "empty"])
def test_spark_twin_gives_scipys_clusters_and_leaves_no_work_table(spark_runs, name):
    # GIVEN a graph as int_identity_nodes and int_identity_edges on Spark
    # WHEN dbt runs int_identity_clusters on the spark target
    run = spark_runs[name]
    # THEN every node has the cluster key and size scipy gives it, and only the model's tables remain
    assert_clusters_are_scipys(run, GRAPHS[name])
    assert run.intermediate_tables == MODEL_TABLES


def test_a_long_path_converges_in_logarithmic_rounds(spark_runs):
    rounds = spark_runs["path"].rounds
    assert rounds is not None and 1 <= rounds <= ROUNDS_PER_LOG2_N * math.log2(PATH_NODES), rounds
    assert spark_runs["empty"].rounds == 0


def test_a_loop_past_its_round_limit_fails_loudly_and_drops_its_work_tables(spark_runs):
    run = spark_runs["round_limit"]
    assert not run.success
    assert any("did not converge in 3 rounds" in message for message in run.messages), run.messages
    assert not [table for table in run.intermediate_tables if "__" in table]
