with

source as (
    select * from {{ siyu.raw_source('wecom', 'corp_tags') }}
    where {{ siyu.latest_partition(siyu.raw_source('wecom', 'corp_tags')) }}
),

final as (
    select
        tag_id,
        tag_name,
        group_id as tag_group_id,
        group_name as tag_group_name,
        tag_order,
        {{ siyu.from_unix_seconds('create_time') }} as created_at,
        dt as snapshot_date
    from source
)

select * from final
