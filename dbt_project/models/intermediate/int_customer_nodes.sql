-- One row per current identifier with the customer it belongs to: the identity map limited to the
-- identifiers the latest build still observes (a mapping row of an identifier no longer seen is history).
-- The one lookup from an identifier to its customer for every model outside the identity chain (joined
-- through the macro customer_node_is), with what the identity chain knows of the identifier.

with

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

nodes as (
    select * from {{ ref('int_identity_nodes') }}
),

final as (
    select
        identity_map.customer_id,
        nodes.node_key,
        nodes.id_type,
        nodes.id_value,
        identity_map.customer_since,
        nodes.first_seen_at,
        nodes.last_seen_at,
        nodes.records
    from identity_map
    inner join nodes on identity_map.node_key = nodes.node_key
)

select * from final
