-- One row per customer and identifier: which identifiers make up a customer, hashed (raw personal data
-- stays in the raw layer), when each was first and last seen, and in which sources.

with

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

nodes as (
    select * from {{ ref('int_identity_nodes') }}
),

observed as (
    select * from {{ ref('int_identifiers_observed') }}
),

node_sources as (
    select distinct node_key, source_name from observed
),

sources_per_node as (
    select node_key, {{ siyu.sorted_listagg('source_name') }} as sources
    from node_sources
    group by node_key
),

final as (
    select
        identity_map.customer_id,
        nodes.id_type,
        {{ siyu.hash_identifier('nodes.id_value') }} as id_value_hash,
        nodes.first_seen_at,
        nodes.last_seen_at,
        nodes.records,
        sources_per_node.sources
    from nodes
    inner join identity_map on nodes.node_key = identity_map.node_key
    left join sources_per_node on nodes.node_key = sources_per_node.node_key
)

select * from final
