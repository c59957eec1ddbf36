-- The CLV calibration check's inputs (Fader, Hardie & Lee 2005 figure 4): one row per buyer whose first
-- purchase is on or before calibration_end = the snapshot date less var clv_holdout_days. The summary as
-- of calibration_end (macro clv_summary, the same as prep_clv_inputs) and holdout_purchases, the distinct
-- purchase days after calibration_end up to the snapshot date (holdout_end).

with

bounds as (
    select
        cast({{ dbt.dateadd('day', -var('clv_holdout_days'), siyu.snapshot_date()) }} as date) as calibration_end,
        {{ siyu.snapshot_date() }} as holdout_end
),

calibration as (
    {{ siyu.clv_summary('(select calibration_end from bounds)') }}
),

holdout as (
    select
        orders.customer_id,
        count(distinct orders.paid_on) as holdout_purchases
    from {{ ref('prep_customer_orders') }} as orders
    cross join bounds
    where orders.paid_on > bounds.calibration_end and orders.paid_on <= bounds.holdout_end
    group by orders.customer_id
),

final as (
    select
        calibration.customer_id,
        calibration.frequency,
        calibration.recency,
        calibration.t,
        calibration.monetary_value,
        coalesce(holdout.holdout_purchases, 0) as holdout_purchases,
        bounds.calibration_end,
        bounds.holdout_end
    from calibration
    cross join bounds
    left join holdout on calibration.customer_id = holdout.customer_id
)

select * from final
