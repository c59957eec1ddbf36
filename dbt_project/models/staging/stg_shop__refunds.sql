-- The zone Youzan writes its times in (var source_timezones).
{% set youzan_zone = siyu.source_time_zone('shop') %}

with

source as (
    select * from {{ siyu.raw_source('shop', 'refunds') }}
),

ranked as (
    select
        *,
        row_number() over (partition by refund_id order by dt desc) as pull_rank
    from source
),

final as (
    select
        refund_id,
        tid as order_id,
        cast(refund_fee as decimal(18, 2)) as refund_amount,
        refund_state,
        -- Youzan writes Beijing time; every siyu timestamp is local to the brand (var timezone).
        {{ siyu.from_source_local_time("cast(nullif(refund_time, '') as timestamp)", youzan_zone) }} as refunded_at
    from ranked
    where pull_rank = 1
)

select * from final
