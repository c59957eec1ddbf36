"""Connected components of the identity graph, used by the dbt model int_identity_clusters and by the
benchmark that measures it beside scipy alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def connected_clusters(node_keys: pd.Series, from_keys: pd.Series, to_keys: pd.Series) -> pd.DataFrame:
    """One row per node: node_key, cluster_key (the smallest node key of its component) and cluster_size.
    Cost grows linearly with nodes + edges (scipy's graph search), whatever the graph's shape."""
    keys = pd.Index(np.sort(node_keys.to_numpy()))
    source = keys.get_indexer(from_keys)
    target = keys.get_indexer(to_keys)
    if (source < 0).any() or (target < 0).any():
        raise ValueError("an edge names a node that is not in the node list")
    graph = coo_matrix((np.ones(len(source), dtype=np.int8), (source, target)), shape=(len(keys), len(keys)))
    _, labels = connected_components(graph, directed=False)
    # Keys are sorted, so the first position of each label holds its component's smallest key.
    first_position = np.full(labels.max() + 1 if len(labels) else 0, len(labels), dtype=np.int64)
    np.minimum.at(first_position, labels, np.arange(len(labels)))
    sizes = np.bincount(labels)
    key_values = keys.to_numpy()
    return pd.DataFrame(
        {"node_key": key_values, "cluster_key": key_values[first_position[labels]], "cluster_size": sizes[labels]}
    )
