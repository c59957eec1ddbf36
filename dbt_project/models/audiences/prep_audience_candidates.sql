-- Every customer each audience rule picks as of the snapshot date (domain.md §5, seeds 000 and 004),
-- before suppression and priorities, with the reason and the channel to act through: the guide's 1:1
-- chat when the customer has a live friendship (wecom_1v1), else, where the audience's channel rule
-- allows it (wecom_1v1_or_group), a customer group they are in (wecom_group). A customer reachable
-- through neither is left out: there is nothing to act through.
-- The audiences, their priorities and channel rules are the seed audience_registry: a rule here for a
-- name the registry lacks gets no priority, which the model's not_null test on priority refuses.
-- prep_: it reads marts (dim_customers, customer_rfm, ...) to feed the audience marts beside it.

with

customers as (
    select * from {{ ref('dim_customers') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

ladder as (
    select * from {{ ref('customer_ladder') }}
),

connections as (
    select * from {{ ref('prep_customer_connections') }}
),

relations as (
    select * from {{ ref('stg_wecom__follow_relations') }}
),

group_members as (
    select * from {{ ref('stg_wecom__group_members') }}
    where member_type = 2
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

registry as (
    select * from {{ ref('audience_registry') }}
),

profile as (
    select
        customers.customer_id,
        customers.guide_userid,
        rfm.rfm_segment,
        rfm.monetary,
        rfm.frequency,
        lifecycle.lifecycle_stage,
        lifecycle.lifetime_orders,
        ladder.ladder_rung,
        connections.live_friendships,
        connections.groups_joined,
        -- The share is among paying buyers (net spend > 0) only: customers who never bought are not ranked.
        case
            when lifecycle.lifetime_orders > 0 and rfm.monetary > 0
                then cume_dist() over (
                    partition by lifecycle.lifetime_orders > 0 and rfm.monetary > 0 order by rfm.monetary desc
                )
        end as monetary_rank_share
    from customers
    inner join rfm on customers.customer_id = rfm.customer_id
    inner join lifecycle on customers.customer_id = lifecycle.customer_id
    inner join ladder on customers.customer_id = ladder.customer_id
    inner join connections on customers.customer_id = connections.customer_id
),

-- The order milestones (var order_milestones, seed 000 首单-3单-5单): order_push_3 pushes buyers below the
-- first to it, order_push_5 those between the two to the second.
{%- set first_milestone, habit_milestone = siyu.order_milestones() %}

rules as (
    select customer_id, 'first_order_nudge' as audience, 'fan who never bought (首单)' as reason
    from profile
    where ladder_rung = 'fan' and lifetime_orders = 0
    union all
    select
        customer_id, 'order_push_3',
        cast(lifetime_orders as {{ dbt.type_string() }})
        || ' orders, active: push to {{ first_milestone }} ({{ first_milestone }}单)'
    from profile
    where
        lifetime_orders >= 1 and lifetime_orders < {{ first_milestone }}
        and lifecycle_stage in ('introduction', 'growth')
    union all
    select
        customer_id, 'order_push_5',
        cast(lifetime_orders as {{ dbt.type_string() }})
        || ' orders, active: push to {{ habit_milestone }} ({{ habit_milestone }}单)'
    from profile
    where
        lifetime_orders >= {{ first_milestone }} and lifetime_orders < {{ habit_milestone }}
        and lifecycle_stage in ('growth', 'maturity')
    union all
    select customer_id, 'win_back_important', '重要挽留客户: high value, not recent, few orders'
    from profile
    where rfm_segment = 'important_win_back'
    union all
    select customer_id, 'group_invitation', 'a WeCom friend in no customer group'
    from profile
    where live_friendships > 0 and groups_joined = 0
    union all
    select customer_id, 'koc_recruitment', 'mature, recent buyer who has not brought anyone yet'
    from profile
    where lifecycle_stage = 'maturity' and ladder_rung != 'koc' and rfm_segment = 'important_value'
    union all
    select
        customer_id, 'vip_care',
        'top ' || cast(cast({{ var('vip_top_share') }} * 100 as integer) as {{ dbt.type_string() }})
        || '% of buyers by net spend'
    from profile
    where lifetime_orders > 0 and monetary > 0 and monetary_rank_share <= {{ var('vip_top_share') }}
),

-- The friendship with the customer's guide (the golden record's guide), for 1:1 messages.
friendship as (
    select
        customer_nodes.customer_id, relations.guide_userid, relations.external_userid,
        row_number() over (
            partition by
                customer_nodes.customer_id order by
                relations.added_at desc,
                relations.external_userid asc
        ) as friendship_rank
    from relations
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'relations.external_userid') }}
    inner join customers on
        customer_nodes.customer_id = customers.customer_id
        and relations.guide_userid = customers.guide_userid
),

-- The group a customer without a friendship is reached in: the one joined most recently.
membership as (
    select
        customer_nodes.customer_id, group_members.chat_id,
        row_number() over (
            partition by
                customer_nodes.customer_id order by
                group_members.joined_at desc,
                group_members.chat_id asc
        ) as membership_rank
    from group_members
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'group_members.member_id') }}
),

final as (
    select
        rules.customer_id,
        rules.audience,
        rules.reason,
        case when friendship.customer_id is not null then 'wecom_1v1' else 'wecom_group' end as channel,
        friendship.guide_userid,
        friendship.external_userid,
        case when friendship.customer_id is null then membership.chat_id end as chat_id,
        registry.priority
    from rules
    left join registry on rules.audience = registry.audience
    left join friendship on rules.customer_id = friendship.customer_id and friendship.friendship_rank = 1
    left join membership on rules.customer_id = membership.customer_id and membership.membership_rank = 1
    where
        friendship.customer_id is not null
        or (membership.customer_id is not null and registry.channel_rule = 'wecom_1v1_or_group')
)

select * from final
