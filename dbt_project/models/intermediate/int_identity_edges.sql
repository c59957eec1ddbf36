-- Edges of the identity graph: identifiers seen together in one source record. Each record links its
-- identifiers to its first one (a star: same components as all pairs, far fewer edges). Excluded
-- values take no part. Phones one digit apart under the same name add an edge each
-- (int_identity_phone_typos). One row per edge and record.

with

observed as (
    select * from {{ ref('int_identifiers_observed') }}
),

nodes as (
    select node_id, node_key from {{ ref('int_identity_nodes') }}
),

-- Nodes are the matchable identifiers: joining them leaves excluded values out.
matchable as (
    select observed.*, nodes.node_id
    from observed
    inner join nodes on observed.node_key = nodes.node_key
),

phone_typos as (
    select * from {{ ref('int_identity_phone_typos') }}
),

anchored as (
    select
        source_name,
        record_id,
        node_id,
        min(node_id) over (partition by source_name, record_id) as anchor_id
    from matchable
),

final as (
    select
        anchor_id as from_node_id,
        node_id as to_node_id,
        source_name,
        record_id
    from anchored
    where node_id != anchor_id
    union all
    select from_node_id, to_node_id, source_name, record_id
    from phone_typos
)

select * from final
