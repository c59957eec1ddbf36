"""The clustering function: components on shapes that break naive approaches."""

from __future__ import annotations

import pandas as pd
import pytest

from siyu.identity import connected_clusters


def test_a_long_chain_is_one_cluster_keyed_by_its_smallest_node():
    nodes = pd.Series([f"n{i:05d}" for i in range(10_000)])
    clusters = connected_clusters(nodes, nodes[:-1], nodes[1:].reset_index(drop=True))
    assert clusters["cluster_key"].nunique() == 1
    assert set(clusters["cluster_key"]) == {"n00000"} and set(clusters["cluster_size"]) == {10_000}


def test_isolated_nodes_and_separate_components():
    nodes = pd.Series(["a", "b", "c", "d", "e"])
    clusters = connected_clusters(nodes, pd.Series(["e", "b"]), pd.Series(["c", "d"])).set_index("node_key")
    assert clusters["cluster_key"].to_dict() == {"a": "a", "b": "b", "c": "c", "d": "b", "e": "c"}
    assert clusters["cluster_size"].to_dict() == {"a": 1, "b": 2, "c": 2, "d": 2, "e": 2}


def test_an_edge_to_an_unknown_node_is_an_error():
    with pytest.raises(ValueError, match="not in the node list"):
        connected_clusters(pd.Series(["a"]), pd.Series(["a"]), pd.Series(["zzz"]))
