"""The clustering function: components on shapes that break naive approaches."""

from __future__ import annotations

import numpy as np
import pytest

from siyu.identity import connected_clusters


def test_a_long_chain_is_one_cluster_keyed_by_its_smallest_node():
    n = 100_000
    cluster_id, size = connected_clusters(n, np.arange(n - 1)[::-1], np.arange(1, n)[::-1])
    assert set(cluster_id) == {0} and set(size) == {n}


def test_isolated_nodes_and_separate_components():
    # nodes a b c d e = 0 1 2 3 4; edges e-c and b-d
    cluster_id, size = connected_clusters(5, np.array([4, 1]), np.array([2, 3]))
    assert cluster_id.tolist() == [0, 1, 2, 1, 2]
    assert size.tolist() == [1, 2, 2, 2, 2]


def test_an_edge_to_an_unknown_node_is_an_error():
    with pytest.raises(ValueError, match="not in the node list"):
        connected_clusters(1, np.array([0]), np.array([7]))
