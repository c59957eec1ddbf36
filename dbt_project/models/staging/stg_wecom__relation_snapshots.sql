-- One row per friendship per snapshot day (every partition, not only the latest): how long friendships
-- last (channel funnel), and the phones guides noted on friendships since deleted (identity). The remark
-- is what the guide typed for the customer, usually her name: identity uses it to tell a mistyped phone.

with

source as (
    select * from {{ siyu.raw_source('wecom', 'follow_relations') }}
),

final as (
    select
        userid as guide_userid,
        external_userid,
        {{ siyu.from_unix_seconds('createtime') }} as added_at,
        nullif(state, '') as channel_state,
        remark_mobiles,
        {{ siyu.normalize_name('remark') }} as remark_name,
        cast(dt as date) as snapshot_date
    from source
)

select * from final
