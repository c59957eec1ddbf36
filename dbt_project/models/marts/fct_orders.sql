-- One row per order, online (shop) and in store (a POS receipt), with its customer, refunds, channel,
-- store and attributed guide. Amounts in yuan; store returns (negative lines) count as refunds.

with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

refunds as (
    select * from {{ ref('stg_shop__refunds') }}
),

pos_lines as (
    select * from {{ ref('stg_store__pos_lines') }}
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

refunds_per_order as (
    select order_id, sum(refund_amount) as refund_amount, max(refunded_at) as refunded_at
    from refunds
    group by order_id
),

online as (
    select
        orders.order_id,
        'online' as channel,
        customer_nodes.customer_id,
        orders.created_at as ordered_at,
        orders.paid_at,
        cast(null as {{ dbt.type_string() }}) as store_id,
        -- A guide's share link names the guide; the shop's own daogou field when present.
        coalesce(orders.guide_userid, case when orders.source_channel = 'guide_share' then orders.source_ref end)
            as guide_userid,
        orders.source_channel,
        case when orders.source_channel = 'group' then orders.source_ref end as chat_id,
        orders.order_status,
        case when orders.paid_at is not null then orders.paid_amount else 0 end as gross_amount,
        coalesce(refunds_per_order.refund_amount, 0) as refund_amount,
        refunds_per_order.refunded_at
    from orders
    left join refunds_per_order on orders.order_id = refunds_per_order.order_id
    left join customer_nodes on {{ siyu.customer_node_is('customer_nodes', 'yz_open_id', 'orders.yz_open_id') }}
),

receipts as (
    select
        receipt_id,
        min(store_id) as store_id,
        min(sold_at) as sold_at,
        min(member_card) as member_card,
        min(phone_e164) as phone_e164,
        min(salesperson_userid) as salesperson_userid,
        sum(case when amount > 0 then amount else 0 end) as gross_amount,
        -sum(case when amount < 0 then amount else 0 end) as refund_amount
    from pos_lines
    group by receipt_id
),

in_store as (
    select
        'pos:' || receipts.receipt_id as order_id,
        'store' as channel,
        coalesce(by_card.customer_id, by_phone.customer_id) as customer_id,
        receipts.sold_at as ordered_at,
        receipts.sold_at as paid_at,
        receipts.store_id,
        receipts.salesperson_userid as guide_userid,
        'store' as source_channel,
        cast(null as {{ dbt.type_string() }}) as chat_id,
        'TRADE_SUCCESS' as order_status,
        receipts.gross_amount,
        receipts.refund_amount,
        case when receipts.refund_amount > 0 then receipts.sold_at end as refunded_at
    from receipts
    left join customer_nodes as by_card on {{ siyu.customer_node_is('by_card', 'member_card', 'receipts.member_card') }}
    left join customer_nodes as by_phone on {{ siyu.customer_node_is('by_phone', 'phone', 'receipts.phone_e164') }}
),

unioned as (
    select * from online
    union all
    select * from in_store
),

final as (
    select
        *,
        paid_at is not null and gross_amount > 0 as is_paid,
        gross_amount - refund_amount as net_amount
    from unioned
)

select * from final
