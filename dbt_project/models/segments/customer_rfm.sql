-- RFM as of the snapshot date (domain.md §3, seed 003): one row per customer. R = days since the last
-- purchase, F = purchases (var rfm_frequency 'purchases') or distinct purchase days ('purchase_days') and
-- M = net amount in the last rfm_window_days (null: all history); a 0-yuan purchase counts only with var
-- purchase_zero_amount (prep_customer_orders). Scores 1-5 by quintile among buyers, ties sharing the lower
-- position's score; R reversed. The 8-class segment compares each of R, F, M with its average among
-- buyers (above average = high; R high = more recent than average). Customers who never bought are in
-- segment no_purchase with null scores. Computed in customer_segments_daily.

with

daily as (
    select * from {{ ref('customer_segments_daily') }}
    where snapshot_date = {{ siyu.snapshot_date() }}
),

segments as (
    select * from {{ ref('rfm_segments') }}
),

final as (
    select
        daily.snapshot_date,
        daily.customer_id,
        daily.recency_days,
        daily.frequency,
        daily.monetary,
        daily.r_score,
        daily.f_score,
        daily.m_score,
        cast(daily.r_score as {{ dbt.type_string() }})
        || cast(daily.f_score as {{ dbt.type_string() }})
        || cast(daily.m_score as {{ dbt.type_string() }})
            as rfm_score,
        daily.rfm_segment,
        segments.segment_zh,
        segments.segment_en
    from daily
    inner join segments on daily.rfm_segment = segments.rfm_segment
)

select * from final
