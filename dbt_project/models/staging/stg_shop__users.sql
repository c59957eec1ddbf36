with

source as (
    select * from {{ siyu.raw_source('shop', 'users') }}
),

ranked as (
    select
        *,
        row_number() over (partition by yz_open_id order by dt desc) as pull_rank
    from source
),

final as (
    select
        yz_open_id,
        nick_name,
        {{ siyu.normalize_phone('mobile') }} as mobile_e164,
        {{ siyu.normalize_text_id('union_id') }} as unionid,
        nullif(weixin_open_id, '') as wechat_openid
    from ranked
    where pull_rank = 1
)

select * from final
