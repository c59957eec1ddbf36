with

source as (
    select * from {{ siyu.raw_source('wecom', 'follow_relations') }}
),

latest as (
    select * from source
    where {{ siyu.latest_partition(siyu.raw_source('wecom', 'follow_relations')) }}
),

final as (
    select
        userid as guide_userid,
        external_userid,
        remark,
        {{ siyu.from_unix_seconds('createtime') }} as added_at,
        add_way,
        nullif(state, '') as channel_state,
        oper_userid,
        remark_mobiles,
        tag_ids,
        dt as snapshot_date
    from latest
)

select * from final
