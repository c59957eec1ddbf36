"""Connected components of the identity graph: one row per matchable identifier with its cluster.

Union-find in SQL needs as many passes as the graph is wide; siyu.identity uses scipy's linear-time
graph search over a sparse matrix. The cluster key is the smallest node key in the cluster, so the same
data always gives the same keys."""

from siyu.identity import connected_clusters


def model(dbt, session):
    dbt.config(materialized="table")
    nodes = dbt.ref("int_identity_nodes").project("node_key, id_type, id_value").df()
    edges = dbt.ref("int_identity_edges").project("from_node_key, to_node_key").df()
    clusters = connected_clusters(nodes["node_key"], edges["from_node_key"], edges["to_node_key"])
    return nodes.merge(clusters, on="node_key", how="inner")
