with

source as (
    select * from {{ siyu.raw_source('wecom', 'user_behavior') }}
),

-- A day pulled twice keeps its latest pull.
ranked as (
    select
        *,
        row_number() over (partition by userid, stat_time order by dt desc) as pull_rank
    from source
),

final as (
    select
        userid as guide_userid,
        -- WeCom counts its statistics by Beijing day (stat_time is that day's midnight), whatever the brand's zone.
        cast({{ siyu.from_unix_seconds('stat_time', siyu.source_time_zone('wecom')) }} as date) as stat_date,
        chat_cnt as chats,
        message_cnt as messages,
        reply_percentage,
        avg_reply_time as avg_reply_minutes,
        negative_feedback_cnt as customers_lost,
        new_apply_cnt as applications,
        new_contact_cnt as contacts_added
    from ranked
    where pull_rank = 1
)

select * from final
