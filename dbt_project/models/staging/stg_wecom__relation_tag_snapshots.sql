-- One row per corp tag a guide set on a friendship, per snapshot day: the history of WeCom tags
-- (every partition, not only the latest), for customer_tags.

with

source as (
    select * from {{ siyu.raw_source('wecom', 'follow_relations') }}
),

exploded as (
    select
        userid as guide_userid,
        external_userid,
        {{ siyu.explode('tag_ids') }} as tag_id,
        dt as snapshot_date
    from source
),

final as (
    select distinct guide_userid, external_userid, tag_id, cast(snapshot_date as date) as snapshot_date
    from exploded
    where tag_id is not null
)

select * from final
