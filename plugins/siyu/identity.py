"""Connected components of the identity graph, used by the dbt model int_identity_clusters and by the
benchmark that measures it beside scipy alone."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def connected_clusters(n_nodes: int, from_ids: np.ndarray, to_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For nodes numbered 0..n-1 in key order, the component of each node as (cluster_id, cluster_size),
    where cluster_id is the smallest node id, hence the smallest key, of its component. Cost grows
    linearly with nodes + edges (scipy's graph search), whatever the graph's shape."""
    from_ids, to_ids = np.asarray(from_ids, dtype=np.int64), np.asarray(to_ids, dtype=np.int64)
    if len(from_ids) and (min(from_ids.min(), to_ids.min()) < 0 or max(from_ids.max(), to_ids.max()) >= n_nodes):
        raise ValueError("an edge names a node that is not in the node list")
    graph = coo_matrix((np.ones(len(from_ids), dtype=np.int8), (from_ids, to_ids)), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    first_of_label = np.full(labels.max() + 1 if n_nodes else 0, n_nodes, dtype=np.int64)
    np.minimum.at(first_of_label, labels, np.arange(n_nodes))
    return first_of_label[labels], np.bincount(labels)[labels]
