"""Stable customer ids: one row per identifier with the customer_id it belongs to.

Full refreshes never wipe this table (full_refresh=False): ids outlive rebuilds. Each run:
- a cluster whose identifiers had no id gets a new one, derived from its cluster key, so the same data
  always gives the same ids;
- a cluster joining identifiers of several customers keeps the oldest id (customer_since, then the id);
  the others are recorded as merged into it (customer_merges);
- a customer whose identifiers now fall in several clusters keeps its id in the part holding most of
  them (then the larger cluster); the other parts get new ids.
"""

import hashlib

import pandas as pd


def _derived_id(cluster_key: str, attempt: int = 0) -> str:
    salt = "" if attempt == 0 else f"#{attempt}"
    return "C" + hashlib.sha256((cluster_key + salt).encode()).hexdigest()[:16]


def model(dbt, session):
    dbt.config(materialized="incremental", full_refresh=False, unique_key="node_key",
               incremental_strategy="delete+insert")
    clusters = dbt.ref("int_identity_clusters").project("node_key, id_type, cluster_key, cluster_size").df()
    # Local time in the business time zone (var timezone, through the yml config), as every siyu timestamp.
    run_at = pd.Timestamp.now(tz=dbt.config.get("business_timezone")).tz_localize(None).floor("s")
    if dbt.is_incremental:
        previous = session.sql(f"select node_key, customer_id, customer_since from {dbt.this}").df()
    else:
        previous = pd.DataFrame({"node_key": pd.Series(dtype=str), "customer_id": pd.Series(dtype=str),
                                 "customer_since": pd.Series(dtype="datetime64[us]")})

    current = clusters.merge(previous, on="node_key", how="left")
    known = current.dropna(subset=["customer_id"])
    candidates = known.groupby(["cluster_key", "customer_id"], as_index=False).agg(
        nodes=("node_key", "size"), customer_since=("customer_since", "min"), cluster_size=("cluster_size", "first"))
    # Each previous id stays with the cluster holding most of its identifiers (the largest part of a split).
    keeper = candidates.sort_values(["customer_id", "nodes", "cluster_size", "cluster_key"],
                                    ascending=[True, False, False, True]).drop_duplicates("customer_id")
    # Each cluster keeps the oldest id it holds; the others were merged into it.
    chosen = keeper.sort_values(["cluster_key", "customer_since", "customer_id"]).drop_duplicates("cluster_key")

    assignment = clusters[["cluster_key"]].drop_duplicates().merge(
        chosen[["cluster_key", "customer_id", "customer_since"]], on="cluster_key", how="left")
    used = set(assignment["customer_id"].dropna()) | set(previous["customer_id"])
    fresh = assignment["customer_id"].isna()
    new_ids = []
    for cluster_key in assignment.loc[fresh, "cluster_key"]:
        attempt, candidate = 0, _derived_id(cluster_key)
        while candidate in used:  # an id a split part would derive may already name another customer
            attempt += 1
            candidate = _derived_id(cluster_key, attempt)
        used.add(candidate)
        new_ids.append(candidate)
    assignment.loc[fresh, "customer_id"] = new_ids
    assignment.loc[fresh, "customer_since"] = run_at

    result = current.rename(columns={"customer_id": "previous_customer_id"}).drop(columns="customer_since")
    result = result.merge(assignment, on="cluster_key", how="left")
    result["assigned_at"] = run_at
    # Explicit types: an empty result (no identifiers yet) must not create NULL-typed columns, which this
    # never-wiped table would keep and every later build would fail to insert into.
    return result[["node_key", "id_type", "cluster_key", "customer_id", "customer_since", "previous_customer_id",
                   "assigned_at"]].astype({"node_key": "string", "id_type": "string", "cluster_key": "string",
                                           "customer_id": "string", "customer_since": "datetime64[us]",
                                           "previous_customer_id": "string", "assigned_at": "datetime64[us]"})
