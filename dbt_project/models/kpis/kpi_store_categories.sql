-- Store sales by category per store and period (seed 001): paid till lines (returns excluded) and each
-- category's share of the store's sales in the period.

with

lines as (
    select * from {{ ref('stg_store__pos_lines') }}
    where amount > 0
),

grains as (
    {{ siyu.period_grains() }}
),

sales as (
    select
        grains.period_grain,
        {{ siyu.period_start('grains.period_grain', 'lines.sold_at') }} as period_start,
        lines.store_id,
        coalesce(nullif(lines.category, ''), 'unknown') as category,
        sum(lines.amount) as sales,
        sum(lines.quantity) as units
    from lines
    cross join grains
    group by 1, 2, 3, 4
),

final as (
    select
        *,
        {{ siyu.ratio('sales', 'sum(sales) over (partition by period_grain, period_start, store_id)') }}
            as sales_share,
        {{ siyu.kpi_unavailable_reason('kpi_store_categories') }} as unavailable_reason
    from sales
)

select * from final
