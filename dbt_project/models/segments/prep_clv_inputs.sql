-- The buy-till-you-die summary per buyer as of the snapshot date, in days (Fader, Hardie & Lee 2005):
-- frequency = repeat purchase days (purchase days after the first), recency = days from the first to the
-- last purchase day, T = days from the first purchase day to the snapshot date, monetary_value = mean
-- net spend per repeat purchase day (0 when there is none). Macro clv_summary.

with

summary as (
    {{ siyu.clv_summary(siyu.snapshot_date()) }}
),

-- The day the summary is as of, on every row: clv_fits decides from it whether to fit again.
final as (
    select
        summary.*,
        {{ siyu.snapshot_date() }} as as_of
    from summary
)

select * from final
