-- One row per cluster size: how many customers hold that many identifiers. `siyu identity-report`.

with

identifiers as (
    select * from {{ ref('customer_identifiers') }}
),

per_customer as (
    select customer_id, count(*) as identifiers
    from identifiers
    group by customer_id
),

final as (
    select identifiers, count(*) as customers
    from per_customer
    group by identifiers
)

select * from final
