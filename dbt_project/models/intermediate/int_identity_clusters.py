"""Connected components of the identity graph: one row per matchable identifier with its cluster.

Union-find in SQL needs as many passes as the graph is wide; siyu.identity uses scipy's linear-time
graph search over a sparse matrix of the node ids numbered in SQL. The cluster key is the smallest node
key in the cluster, so the same data always gives the same keys."""

from siyu.identity import connected_clusters


def model(dbt, session):
    dbt.config(materialized="table")
    nodes = dbt.ref("int_identity_nodes").project("node_id, node_key, id_type, id_value").order("node_id").df()
    edges = dbt.ref("int_identity_edges").project("from_node_id, to_node_id").df()
    cluster_id, cluster_size = connected_clusters(len(nodes), edges["from_node_id"].to_numpy(),
                                                  edges["to_node_id"].to_numpy())
    nodes["cluster_key"] = nodes["node_key"].to_numpy()[cluster_id]
    nodes["cluster_size"] = cluster_size
    # Explicit types: with no identifiers at all (a brand's first hours) pandas would hand DuckDB untyped
    # empty columns, and a NULL-typed column would break every later build.
    return nodes.astype({"node_id": "int64", "node_key": "string", "id_type": "string", "id_value": "string",
                         "cluster_key": "string", "cluster_size": "int64"})
