{#- The buy-till-you-die summary per buyer as of a day (Fader, Hardie & Lee 2005), in days, over
    prep_customer_orders: purchases are counted as distinct purchase days (two receipts on one day are one
    purchase, as in the paper's CDNOW data). frequency = purchase days after the first; recency = days
    from the first to the last purchase day; t = days from the first purchase day to as_of; monetary_value
    = mean net spend per repeat purchase day (0 without one). Only buyers whose first purchase is on or
    before as_of. prep_clv_inputs (as of the snapshot) and prep_clv_calibration_inputs (as of the
    calibration end) both use it, so the calibration checks the summary the forecast is fitted on. -#}
{% macro clv_summary(as_of) -%}
    select
        customer_id,
        count(*) - 1 as frequency,
        {{ dbt.datediff('min(paid_on)', 'max(paid_on)', 'day') }} as recency,
        {{ dbt.datediff('min(paid_on)', as_of, 'day') }} as t,
        cast(coalesce(avg(case when day_number > 1 then net_amount end), 0) as double) as monetary_value
    from (
        select
            customer_id,
            paid_on,
            sum(net_amount) as net_amount,
            row_number() over (partition by customer_id order by paid_on) as day_number
        from {{ ref('prep_customer_orders') }}
        where paid_on <= {{ as_of }}
        group by customer_id, paid_on
    ) as purchase_days
    group by customer_id
{%- endmacro %}
