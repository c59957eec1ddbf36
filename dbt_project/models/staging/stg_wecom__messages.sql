with

source as (
    select * from {{ siyu.raw_source('wecom', 'messages') }}
),

ranked as (
    select
        *,
        row_number() over (partition by msgid order by dt desc) as pull_rank
    from source
),

final as (
    select
        msgid as message_id,
        {{ adapter.quote('from') }} as sender_id,
        tolist as recipient_ids,
        nullif(roomid, '') as chat_id,
        {{ siyu.from_unix_seconds(siyu.integer_divide('msgtime', 1000)) }} as sent_at,
        msgtype as message_type,
        content
    from ranked
    where pull_rank = 1
)

select * from final
