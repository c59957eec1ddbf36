"""Connected components of the identity graph: one row per matchable identifier with its cluster.

Union-find in SQL needs as many passes as the graph is wide; scipy's connected_components is a
linear-time graph search over a sparse matrix. The cluster key is the smallest node key in the
cluster, so the same data always gives the same keys."""

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def model(dbt, session):
    dbt.config(materialized="table")
    nodes = dbt.ref("int_identity_nodes").project("node_key, id_type, id_value").df()
    nodes = nodes.sort_values("node_key", ignore_index=True)
    edges = dbt.ref("int_identity_edges").project("from_node_key, to_node_key").df()

    index = pd.Index(nodes["node_key"])
    source = index.get_indexer(edges["from_node_key"])
    target = index.get_indexer(edges["to_node_key"])
    graph = coo_matrix((np.ones(len(source), dtype=np.int8), (source, target)), shape=(len(index), len(index)))
    _, labels = connected_components(graph, directed=False)

    # Nodes are sorted by key, so the first node of each component carries its smallest key.
    first_of_label = pd.Series(np.arange(len(labels))).groupby(labels).transform("min").to_numpy()
    nodes["cluster_key"] = nodes["node_key"].to_numpy()[first_of_label]
    nodes["cluster_size"] = pd.Series(labels).map(pd.Series(labels).value_counts()).to_numpy()
    return nodes
