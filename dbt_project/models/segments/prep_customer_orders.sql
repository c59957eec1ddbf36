-- One row per purchase: a paid order, online or in store, of a known customer, not wholly refunded
-- (a fully refunded order is not a purchase: docs/decisions.md "Segments"). Net of refunds. A paid order
-- or receipt of 0 yuan (a gift, a voucher redemption) is a purchase only when var purchase_zero_amount
-- is true (default false: nothing was spent).

with

orders as (
    select * from {{ ref('fct_orders') }}
),

items as (
    select * from {{ ref('stg_shop__order_items') }}
),

-- Discount: list price times quantity less what was paid for the goods (online only; the tills sell
-- at the price they record).
discounts as (
    select
        order_id,
        sum(unit_price * quantity) as list_amount,
        sum(unit_price * quantity - paid_amount) as discount_amount
    from items
    group by order_id
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.channel,
        orders.source_channel,
        orders.store_id,
        orders.guide_userid,
        orders.chat_id,
        orders.paid_at,
        cast(orders.paid_at as date) as paid_on,
        orders.gross_amount,
        orders.net_amount,
        coalesce(discounts.list_amount, orders.gross_amount) as list_amount,
        coalesce(discounts.discount_amount, 0) as discount_amount,
        row_number() over (partition by orders.customer_id order by orders.paid_at, orders.order_id) as order_number
    from orders
    left join discounts on orders.order_id = discounts.order_id
    where
        orders.is_paid
        and (
            orders.net_amount > 0
            {%- if var('purchase_zero_amount') %}
                or orders.gross_amount = 0
            {%- endif %}
        )
        and orders.customer_id is not null
)

select * from final
