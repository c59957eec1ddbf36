-- The matchable identifiers: every identifier observed, less the values merge protection left out.
-- One row per node (id_type, id_value), numbered 0..n-1 in key order for the clustering step.

with

observed as (
    select * from {{ ref('int_identifiers_observed') }}
),

excluded as (
    select node_key from {{ ref('int_identity_excluded_values') }}
),

grouped as (
    select
        observed.node_key,
        observed.id_type,
        observed.id_value,
        min(observed.first_seen_at) as first_seen_at,
        max(observed.last_seen_at) as last_seen_at,
        count(distinct observed.record_id) as records
    from observed
    left join excluded on observed.node_key = excluded.node_key
    where excluded.node_key is null
    group by observed.node_key, observed.id_type, observed.id_value
),

final as (
    select
        row_number() over (order by node_key) - 1 as node_id,
        *
    from grouped
)

select * from final
