{{ siyu.kpi_period_config() }}
-- The GMV tree (seed 000): GMV = UV × conversion × AOV × purchase frequency, by channel and period.
--   uv          distinct shop visitors in the period (online only: stores count no visitors)
--   conversion  buyers / uv
--   aov         gmv / orders (average order value)
--   frequency   orders / buyers
-- so uv × conversion × aov × frequency = gmv (data test). GMV is paid value before refunds; refunds and
-- net GMV stand beside it.
-- Incremental (issue 22): a run recomputes the periods that overlap the lookback (macro kpi_recompute_from)
-- from the inputs of those periods and keeps the older ones as stored.
{%- set recompute_from = siyu.kpi_recompute_from() if is_incremental() else none %}

with

purchases as (
    select * from {{ ref('prep_kpi_purchases') }}
    {%- if recompute_from %}
    where period_start >= {{ recompute_from }}
    {%- endif %}
),

visits as (
    select * from {{ ref('stg_shop__visits') }}
    {%- if recompute_from %}
    where cast(visited_at as date) >= {{ recompute_from }}
    {%- endif %}
),

grains as (
    {{ siyu.period_grains() }}
),

sales as (
    select
        period_grain,
        period_start,
        channel,
        count(*) as orders,
        count(distinct buyer_key) as buyers,
        sum(gross_amount) as gmv,
        sum(refund_amount) as refunds,
        sum(net_amount) as net_gmv
    from purchases
    group by period_grain, period_start, channel
),

visitors as (
    select
        grains.period_grain,
        {{ siyu.period_start('grains.period_grain', 'visits.visited_at') }} as period_start,
        'online' as channel,
        count(distinct visits.visitor_id) as uv
    from visits
    cross join grains
    {%- if recompute_from %}
    where {{ siyu.period_start('grains.period_grain', 'visits.visited_at') }} >= {{ recompute_from }}
    {%- endif %}
    group by 1, 2, 3
),

final as (
    select
        coalesce(sales.period_grain, visitors.period_grain) as period_grain,
        coalesce(sales.period_start, visitors.period_start) as period_start,
        coalesce(sales.channel, visitors.channel) as channel,
        visitors.uv,
        coalesce(sales.buyers, 0) as buyers,
        coalesce(sales.orders, 0) as orders,
        {{ siyu.ratio('coalesce(sales.buyers, 0)', 'visitors.uv') }} as conversion,
        {{ siyu.ratio('sales.gmv', 'sales.orders') }} as aov,
        {{ siyu.ratio('sales.orders', 'sales.buyers') }} as purchase_frequency,
        coalesce(sales.gmv, 0) as gmv,
        coalesce(sales.refunds, 0) as refunds,
        coalesce(sales.net_gmv, 0) as net_gmv,
        {{ siyu.kpi_unavailable_reason('kpi_gmv_tree') }} as unavailable_reason
    from sales
    full outer join visitors on
        sales.period_grain = visitors.period_grain
        and sales.period_start = visitors.period_start
        and sales.channel = visitors.channel
)

select * from final
