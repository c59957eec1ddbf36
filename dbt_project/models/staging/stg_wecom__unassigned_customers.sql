with

source as (
    select * from {{ siyu.raw_source('wecom', 'unassigned_customers') }}
    where {{ siyu.latest_partition(siyu.raw_source('wecom', 'unassigned_customers')) }}
),

final as (
    select
        handover_userid,
        external_userid,
        {{ siyu.from_unix_seconds('dimission_time') }} as resigned_at,
        dt as snapshot_date
    from source
)

select * from final
