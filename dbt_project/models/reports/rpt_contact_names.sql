-- One row per WeCom external contact (external_userid) with the WeChat name of the latest contact
-- snapshot. The guide-facing audience exports show it beside the guide's remark.

with

contacts as (
    select * from {{ ref('stg_wecom__external_contacts') }}
),

ranked as (
    select
        external_userid,
        contact_name,
        row_number() over (partition by external_userid order by snapshot_date desc) as recency_rank
    from contacts
),

final as (
    select external_userid, contact_name
    from ranked
    where recency_rank = 1
)

select * from final
