-- One row per friendship (guide_userid, external_userid) with the remark name the guide gave the customer
-- in the latest snapshot. The guide-facing audience exports show it.

with

relations as (
    select * from {{ ref('stg_wecom__follow_relations') }}
),

ranked as (
    select
        guide_userid,
        external_userid,
        remark,
        row_number() over (
            partition by guide_userid, external_userid order by snapshot_date desc
        ) as recency_rank
    from relations
),

final as (
    select guide_userid, external_userid, remark as customer_remark
    from ranked
    where recency_rank = 1
)

select * from final
