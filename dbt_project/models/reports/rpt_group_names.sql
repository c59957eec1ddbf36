-- One row per customer group (chat_id) with its name in the latest group snapshot. The report's community
-- table and the guide-facing audience exports name groups with it.

with

groups as (
    select * from {{ ref('stg_wecom__groups') }}
),

ranked as (
    select
        chat_id,
        group_name,
        row_number() over (partition by chat_id order by snapshot_date desc) as recency_rank
    from groups
),

final as (
    select chat_id, group_name
    from ranked
    where recency_rank = 1
)

select * from final
