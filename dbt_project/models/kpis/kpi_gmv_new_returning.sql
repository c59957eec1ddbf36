{{ siyu.kpi_period_config() }}
-- GMV split into new and returning customers (seed 004 §12): GMV = first-time buyers × their sales per
-- buyer + repeat buyers × their sales per buyer, by channel and period. A buyer is new in the period of
-- their first paid order in the channel (any channel for 'all'); all their sales in that period are
-- new sales. An unmatched store receipt is a new buyer. new_gmv + returning_gmv = gmv (data test).
-- Incremental (issue 22): a run recomputes the periods that overlap the lookback (macro kpi_recompute_from)
-- from the inputs of those periods and keeps the older ones as stored.
{%- set recompute_from = siyu.kpi_recompute_from() if is_incremental() else none %}

with

purchases as (
    select * from {{ ref('prep_kpi_purchases') }}
),

-- A buyer's first order is found in all history.
firsts as (
    select channel, buyer_key, min(paid_at) as first_paid_at
    from purchases
    where period_grain = 'day'
    group by channel, buyer_key
),

classified as (
    select
        purchases.*,
        {{ siyu.period_start('purchases.period_grain', 'firsts.first_paid_at') }} = purchases.period_start as is_new
    from purchases
    inner join firsts on purchases.channel = firsts.channel and purchases.buyer_key = firsts.buyer_key
    {%- if recompute_from %}
    where purchases.period_start >= {{ recompute_from }}
    {%- endif %}
),

final as (
    select
        period_grain,
        period_start,
        channel,
        count(distinct case when is_new then buyer_key end) as new_buyers,
        sum(case when is_new then gross_amount else 0 end) as new_gmv,
        {{ siyu.ratio('sum(case when is_new then gross_amount else 0 end)',
            'count(distinct case when is_new then buyer_key end)') }} as new_sales_per_buyer,
        count(distinct case when not is_new then buyer_key end) as returning_buyers,
        sum(case when not is_new then gross_amount else 0 end) as returning_gmv,
        {{ siyu.ratio('sum(case when not is_new then gross_amount else 0 end)',
            'count(distinct case when not is_new then buyer_key end)') }} as returning_sales_per_buyer,
        sum(gross_amount) as gmv,
        {{ siyu.kpi_unavailable_reason('kpi_gmv_new_returning') }} as unavailable_reason
    from classified
    group by period_grain, period_start, channel
)

select * from final
