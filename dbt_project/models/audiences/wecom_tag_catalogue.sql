-- Every tag siyu may write to WeCom, by tag group: created up front (add_corp_tag) so their ids exist
-- before marking, and the set of tags siyu manages (it never touches tags outside these groups).

with

segments as (
    select * from {{ ref('rfm_segments') }}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

final as (
    select
        '{{ var("wecom_tag_groups")["rfm_segment"] }}' as tag_group_name, segment_zh as tag_name,
        segment_order as tag_order
    from segments
    union all
    select '{{ var("wecom_tag_groups")["lifecycle_stage"] }}', stage_zh, stage_order
    from stages
)

select * from final
