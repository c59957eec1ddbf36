-- The buy-till-you-die summary per buyer as of the snapshot date, in days (Fader, Hardie & Lee 2005):
-- frequency = repeat purchase days (purchase days after the first), recency = days from the first to the
-- last purchase day, T = days from the first purchase day to the snapshot date, monetary_value = mean
-- net spend per repeat purchase day (0 when there is none).

with

orders as (
    select * from {{ ref('int_customer_orders') }}
    where paid_on <= {{ siyu.snapshot_date() }}
),

purchase_days as (
    select customer_id, paid_on, sum(net_amount) as net_amount
    from orders
    group by customer_id, paid_on
),

ranked as (
    select *, row_number() over (partition by customer_id order by paid_on) as day_number
    from purchase_days
),

final as (
    select
        customer_id,
        count(*) - 1 as frequency,
        {{ dbt.datediff('min(paid_on)', 'max(paid_on)', 'day') }} as recency,  -- noqa: LT05
        {{ dbt.datediff('min(paid_on)', siyu.snapshot_date(), 'day') }} as t,  -- noqa: LT05
        cast(coalesce(avg(case when day_number > 1 then net_amount end), 0) as double) as monetary_value
    from ranked
    group by customer_id
)

select * from final
