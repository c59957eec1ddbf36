-- Edges of the identity graph: identifiers seen together in one source record. Each record links its
-- identifiers to its first one (a star: same components as all pairs, far fewer edges). Excluded
-- values take no part. One row per edge and record.

with

observed as (
    select * from {{ ref('int_identifiers_observed') }}
),

excluded as (
    select node_key from {{ ref('int_identity_excluded_values') }}
),

matchable as (
    select observed.*
    from observed
    left join excluded on observed.node_key = excluded.node_key
    where excluded.node_key is null
),

anchored as (
    select
        source_name,
        record_id,
        node_key,
        min(node_key) over (partition by source_name, record_id) as anchor_key
    from matchable
),

final as (
    select
        anchor_key as from_node_key,
        node_key as to_node_key,
        source_name,
        record_id
    from anchored
    where node_key != anchor_key
)

select * from final
