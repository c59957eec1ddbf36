-- One row per current identifier with the customer it belongs to: the identity map limited to the
-- identifiers the latest build still observes (a mapping row of an identifier no longer seen is history).

with

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

nodes as (
    select node_key, id_type, id_value from {{ ref('int_identity_nodes') }}
),

final as (
    select identity_map.customer_id, nodes.node_key, nodes.id_type, nodes.id_value
    from identity_map
    inner join nodes on identity_map.node_key = nodes.node_key
)

select * from final
