-- Persona types (domain.md §3, seed 004 §71), one row per customer as of the snapshot date, from
-- touchpoints, repurchase, referrals, interaction days and the discounted share of spend. The first
-- rule that holds names the persona:
--   活跃分享家 active sharer   brought at least persona_sharer_referrals people
--   精明消费者 bargain hunter  at least persona_discount_share of list price discounted
--   深粉种草党 deep fan        interacted on at least persona_deep_fan_active_days days
--   品质生活家 quality planner bought again (2+ purchases) at near-list prices
--   潜水跟随者 lurker          everyone else: connected, quiet

with

connections as (
    select * from {{ ref('prep_customer_connections') }}
),

orders as (
    select * from {{ ref('prep_customer_orders') }}
    where paid_on <= {{ siyu.snapshot_date() }}
),

interactions as (
    select * from {{ ref('prep_customer_interactions') }}
    where interacted_on <= {{ siyu.snapshot_date() }}
),

personas as (
    select * from {{ ref('personas') }}
),

spend as (
    select
        customer_id,
        count(*) as purchases,
        sum(list_amount) as list_amount,
        sum(discount_amount) as discount_amount
    from orders
    group by customer_id
),

activity as (
    select
        customer_id,
        sum(case when chats + group_messages > 0 then 1 else 0 end) as active_days,
        sum(chats + group_messages) as messages
    from interactions
    group by customer_id
),

measures as (
    select
        connections.customer_id,
        connections.connected_channels as touchpoints,
        coalesce(spend.purchases, 0) as purchases,
        connections.referrals,
        coalesce(activity.active_days, 0) as active_days,
        coalesce(activity.messages, 0) as messages,
        case when spend.list_amount > 0 then {{ siyu.ratio('spend.discount_amount', 'spend.list_amount') }} end
            as discount_share
    from connections
    left join spend on connections.customer_id = spend.customer_id
    left join activity on connections.customer_id = activity.customer_id
),

classified as (
    select
        *,
        case
            when referrals >= {{ var('persona_sharer_referrals') }} then 'active_sharer'
            when discount_share >= {{ var('persona_discount_share') }} then 'bargain_hunter'
            when active_days >= {{ var('persona_deep_fan_active_days') }} then 'deep_fan'
            when purchases >= 2 then 'quality_planner'
            else 'lurker'
        end as persona
    from measures
),

final as (
    select
        {{ siyu.snapshot_date() }} as snapshot_date,
        classified.customer_id,
        classified.persona,
        personas.persona_zh,
        personas.persona_en,
        classified.touchpoints,
        classified.purchases,
        classified.referrals,
        classified.active_days,
        classified.messages,
        classified.discount_share
    from classified
    inner join personas on classified.persona = personas.persona
)

select * from final
