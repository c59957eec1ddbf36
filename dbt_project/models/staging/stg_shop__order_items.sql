with

source as (
    select * from {{ siyu.raw_source('shop', 'order_items') }}
),

ranked as (
    select
        *,
        row_number() over (partition by oid order by dt desc) as pull_rank
    from source
),

final as (
    select
        oid as order_line_id,
        tid as order_id,
        item_id,
        sku_id,
        outer_sku_id as sku,
        title as item_title,
        category,
        num as quantity,
        cast(price as decimal(18, 2)) as unit_price,
        cast(total_fee as decimal(18, 2)) as goods_amount,
        cast(payment as decimal(18, 2)) as paid_amount
    from ranked
    where pull_rank = 1
)

select * from final
