-- One row per store the store master lists: the names the report and exports show instead of ids.

with

stores as (
    select * from {{ ref('stg_store__stores') }}
),

final as (
    select
        store_id,
        store_name,
        city,
        opened_on
    from stores
)

select * from final
