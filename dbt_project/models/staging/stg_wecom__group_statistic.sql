with

source as (
    select * from {{ siyu.raw_source('wecom', 'group_statistic') }}
),

ranked as (
    select
        *,
        row_number() over (partition by owner, stat_time order by dt desc) as pull_rank
    from source
),

final as (
    select
        owner as owner_userid,
        -- WeCom counts its statistics by Beijing day (stat_time is that day's midnight), whatever the brand's zone.
        cast({{ siyu.from_unix_seconds('stat_time', siyu.source_time_zone('wecom')) }} as date) as stat_date,
        new_chat_cnt as groups_created,
        chat_total as groups_total,
        chat_has_msg as groups_with_messages,
        new_member_cnt as members_joined,
        member_total as members_total,
        member_has_msg as members_who_spoke,
        msg_total as messages
    from ranked
    where pull_rank = 1
)

select * from final
