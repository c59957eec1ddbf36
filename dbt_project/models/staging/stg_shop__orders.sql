-- The zone Youzan writes its times in (var source_timezones).
{% set youzan_zone = siyu.source_time_zone('shop') %}

with

source as (
    select * from {{ siyu.raw_source('shop', 'orders') }}
),

-- Lookback windows overlap, so an order appears in several pulls: keep its latest state.
ranked as (
    select
        *,
        row_number() over (partition by tid order by update_time desc, dt desc) as version_rank
    from source
),

final as (
    select
        tid as order_id,
        status as order_status,
        -- Youzan writes Beijing time; every siyu timestamp is local to the brand (var timezone).
        {{ siyu.from_source_local_time("cast(created as timestamp)", youzan_zone) }} as created_at,
        {{ siyu.from_source_local_time("cast(update_time as timestamp)", youzan_zone) }} as updated_at,
        {{ siyu.from_source_local_time("cast(nullif(pay_time, '') as timestamp)", youzan_zone) }} as paid_at,
        {{ siyu.from_source_local_time("cast(nullif(consign_time, '') as timestamp)", youzan_zone) }} as shipped_at,
        {{ siyu.from_source_local_time("cast(nullif(success_time, '') as timestamp)", youzan_zone) }}
            as completed_at,
        refund_state,
        yz_open_id,
        nullif(outer_user_id, '') as wechat_openid,
        {{ siyu.normalize_phone('buyer_phone') }} as buyer_phone_e164,
        cast(total_fee as decimal(18, 2)) as goods_amount,
        cast(post_fee as decimal(18, 2)) as post_fee,
        cast(payment as decimal(18, 2)) as paid_amount,
        nullif(source_channel, '') as source_channel,
        nullif(source_ref, '') as source_ref,
        nullif(daogou, '') as guide_userid,
        wx_entrance
    from ranked
    where version_rank = 1
)

select * from final
