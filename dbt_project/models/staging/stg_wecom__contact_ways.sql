with

source as (
    select * from {{ siyu.raw_source('wecom', 'contact_ways') }}
    where {{ siyu.latest_partition(siyu.raw_source('wecom', 'contact_ways')) }}
),

final as (
    select
        config_id,
        state as channel_state,
        remark,
        type as contact_way_type,
        scene,
        user as guide_userids,
        dt as snapshot_date
    from source
)

select * from final
