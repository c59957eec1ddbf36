-- One row per live WeCom friendship and computed tag that friendship should carry in WeCom: the RFM
-- segment and the lifecycle stage of the customer, in siyu's own tag groups. The activation DAG makes
-- WeCom match this table (mark_tag on differences only). Erased customers get no tags.

with

relations as (
    select * from {{ ref('stg_wecom__follow_relations') }}
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

erased as (
    select distinct customer_id from {{ ref('prep_audience_suppressions') }}
    where reason = 'erased'
),

computed as (
    select customer_id, '{{ var("wecom_tag_groups")["rfm_segment"] }}' as tag_group_name, segment_zh as tag_name
    from rfm
    union all
    select customer_id, '{{ var("wecom_tag_groups")["lifecycle_stage"] }}', stage_zh
    from lifecycle
),

final as (
    select
        relations.guide_userid,
        relations.external_userid,
        computed.customer_id,
        computed.tag_group_name,
        computed.tag_name
    from relations
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'relations.external_userid') }}
    inner join computed on customer_nodes.customer_id = computed.customer_id
    left join erased on computed.customer_id = erased.customer_id
    where erased.customer_id is null
)

select * from final
