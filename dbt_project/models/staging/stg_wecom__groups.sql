with

source as (
    select * from {{ siyu.raw_source('wecom', 'groups') }}
    where {{ siyu.latest_partition(siyu.raw_source('wecom', 'groups')) }}
),

final as (
    select
        chat_id,
        status as owner_status,
        name as group_name,
        owner as owner_userid,
        {{ siyu.from_unix_seconds('create_time') }} as created_at,
        notice,
        member_count,
        dt as snapshot_date
    from source
)

select * from final
