with

source as (
    select * from {{ siyu.raw_source('wecom', 'external_contacts') }}
    where {{ siyu.latest_partition(siyu.raw_source('wecom', 'external_contacts')) }}
),

final as (
    select
        external_userid,
        name as contact_name,
        type as contact_type,
        gender,
        {{ siyu.normalize_text_id('unionid') }} as unionid,
        corp_name,
        dt as snapshot_date
    from source
)

select * from final
