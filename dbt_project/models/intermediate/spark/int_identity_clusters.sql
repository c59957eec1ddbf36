-- Spark twin of int_identity_clusters.py (dbt-spark runs Python models only on Databricks): one row per
-- matchable identifier with its connected component. The pre-hook clusters the identity graph by
-- large-star/small-star in SQL (macros/spark_clusters.sql), leaving each node's edge to the smallest
-- node id of its component in a work table; a node without one (isolated, or the smallest itself) is
-- its own root. Node ids are numbered in key order, so the root's key is the cluster's smallest key.
-- depends_on: {{ ref('int_identity_edges') }}

{{ config(
    materialized='table',
    file_format='parquet',
    pre_hook="{{ siyu.cluster_identity_graph(ref('int_identity_edges')) }}",
    post_hook="{{ siyu.drop_cluster_work_tables() }}",
) }}

with

nodes as (
    select node_id, node_key, id_type, id_value from {{ ref('int_identity_nodes') }}
),

stars as (
    select node_id, parent_id from {{ siyu.cluster_work_relation('edges') }}
),

rooted as (
    select
        nodes.node_id,
        nodes.node_key,
        nodes.id_type,
        nodes.id_value,
        coalesce(stars.parent_id, nodes.node_id) as root_id
    from nodes
    left join stars on nodes.node_id = stars.node_id
),

final as (
    select
        cast(rooted.node_id as {{ dbt.type_bigint() }}) as node_id,
        cast(rooted.node_key as {{ dbt.type_string() }}) as node_key,
        cast(rooted.id_type as {{ dbt.type_string() }}) as id_type,
        cast(rooted.id_value as {{ dbt.type_string() }}) as id_value,
        cast(roots.node_key as {{ dbt.type_string() }}) as cluster_key,
        cast(count(*) over (partition by rooted.root_id) as {{ dbt.type_bigint() }}) as cluster_size
    from rooted
    inner join nodes as roots on rooted.root_id = roots.node_id
)

select * from final
