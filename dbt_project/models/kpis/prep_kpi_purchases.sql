-- Paid orders for the KPI marts, one row per order and grain with its period, and a buyer key: the
-- customer, or the order itself for a store receipt nobody could be matched to (a walk-in without a
-- usable phone counts as one buyer per receipt). Channel 'all' repeats every order.

with

orders as (
    select * from {{ ref('fct_orders') }}
    where is_paid
),

grains as (
    {{ siyu.period_grains() }}
),

channels as (
    select order_id, channel from orders
    union all
    select order_id, 'all' from orders
),

final as (
    select
        grains.period_grain,
        {{ siyu.period_start('grains.period_grain', 'orders.paid_at') }} as period_start,
        channels.channel,
        orders.order_id,
        orders.customer_id,
        coalesce(orders.customer_id, 'order:' || orders.order_id) as buyer_key,
        orders.paid_at,
        orders.store_id,
        orders.guide_userid,
        orders.chat_id,
        orders.source_channel,
        orders.gross_amount,
        orders.refund_amount,
        orders.net_amount
    from orders
    inner join channels on orders.order_id = channels.order_id
    cross join grains
)

select * from final
