-- One row per sales channel: paid orders and their gross amount (the demo summary's orders / GMV lines).

with

orders as (
    select * from {{ ref('fct_orders') }}
),

final as (
    select
        channel,
        count(*) as orders,
        sum(gross_amount) as gmv
    from orders
    where is_paid
    group by channel
)

select * from final
