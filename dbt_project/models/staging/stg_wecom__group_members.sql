with

source as (
    select * from {{ siyu.raw_source('wecom', 'group_members') }}
    where {{ siyu.latest_partition(siyu.raw_source('wecom', 'group_members')) }}
),

final as (
    select
        chat_id,
        userid as member_id,
        type as member_type,
        {{ siyu.normalize_text_id('unionid') }} as unionid,
        {{ siyu.from_unix_seconds('join_time') }} as joined_at,
        join_scene,
        invitor as invitor_userid,
        state as join_state,
        group_nickname,
        dt as snapshot_date
    from source
)

select * from final
