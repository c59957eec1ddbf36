with

source as (
    select * from {{ siyu.raw_source('store', 'members') }}
),

ranked as (
    select
        *,
        row_number() over (partition by card_no order by dt desc) as pull_rank
    from source
),

final as (
    select
        card_no as member_card,
        store_id,
        {{ siyu.normalize_phone('phone') }} as phone_e164,
        name as member_name,
        cast(gender as integer) as gender,
        cast(nullif(birthday, '') as date) as birthday,
        cast(registered_at as timestamp) as registered_at,
        marketing_opt_in = 'Y' as marketing_opt_in,
        file as source_file
    from ranked
    where pull_rank = 1
)

select * from final
