{{ siyu.kpi_period_config() }}
-- The store dashboard (seed 001) per store and period: sales (paid till value before returns), returns,
-- receipts, buyers, and the members' share of sales and of buyers. A receipt is a member's when it
-- carries a member card or its customer holds a membership. Unmatched receipts count one buyer each.
-- Sales by category: kpi_store_categories.
-- Incremental (issue 22): a run recomputes the periods that overlap the lookback (macro kpi_recompute_from)
-- from the inputs of those periods and keeps the older ones as stored.
{%- set recompute_from = siyu.kpi_recompute_from() if is_incremental() else none %}

with

purchases as (
    select * from {{ ref('prep_kpi_purchases') }}
    where channel = 'store'{% if recompute_from %} and period_start >= {{ recompute_from }}{% endif %}
),

receipts as (
    select distinct 'pos:' || receipt_id as order_id, member_card
    from {{ ref('stg_store__pos_lines') }}
),

connections as (
    select customer_id, member_since from {{ ref('prep_customer_connections') }}
),

marked as (
    select
        purchases.*,
        receipts.member_card is not null or connections.member_since is not null as is_member_sale
    from purchases
    left join receipts on purchases.order_id = receipts.order_id
    left join connections on purchases.customer_id = connections.customer_id
),

final as (
    select
        period_grain,
        period_start,
        store_id,
        sum(gross_amount) as sales,
        sum(refund_amount) as returns,
        sum(net_amount) as net_sales,
        count(*) as receipts,
        count(distinct buyer_key) as buyers,
        sum(case when is_member_sale then gross_amount else 0 end) as member_sales,
        {{ siyu.ratio('sum(case when is_member_sale then gross_amount else 0 end)', 'sum(gross_amount)') }}
            as member_sales_share,
        count(distinct case when is_member_sale then buyer_key end) as member_buyers,
        {{ siyu.ratio('count(distinct case when is_member_sale then buyer_key end)', 'count(distinct buyer_key)') }}
            as member_buyer_share,
        {{ siyu.kpi_unavailable_reason('kpi_stores') }} as unavailable_reason
    from marked
    group by period_grain, period_start, store_id
)

select * from final
