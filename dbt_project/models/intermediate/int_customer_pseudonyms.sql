-- One row per customer and keyed pseudonym (HMAC-SHA256 under siyu's key, macro hash_identifier) of each
-- of her current identifiers and of her customer id: what the suppression list and consent events, which
-- hold pseudonyms only, are matched against (docs/privacy.md).

with

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

final as (
    select distinct
        customer_id,
        id_type,
        {{ siyu.hash_identifier('id_value') }} as pseudonym
    from customer_nodes
    union all
    select distinct
        customer_id,
        'customer_id' as id_type,
        {{ siyu.hash_identifier('customer_id') }} as pseudonym
    from customer_nodes
)

select * from final
