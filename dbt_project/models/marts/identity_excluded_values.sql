-- One row per identifier value merge protection left out of matching, hashed, with the reason and counts.

with

excluded as (
    select * from {{ ref('int_identity_excluded_values') }}
),

final as (
    select
        id_type,
        {{ siyu.hash_identifier('id_value') }} as id_value_hash,
        strong_identifiers_linked,
        records,
        receipts,
        link_limit,
        reason
    from excluded
)

select * from final
