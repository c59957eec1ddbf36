-- One row per customer: how and since when the brand owns a connection to them (domain.md §3 ladder,
-- §4 connected users). Channels: WeCom friendship, customer group, store membership, shop account,
-- WeChat (mini-program) account.

with

customers as (
    select * from {{ ref('dim_customers') }}
),

relations as (
    select * from {{ ref('stg_wecom__follow_relations') }}
),

group_members as (
    select * from {{ ref('stg_wecom__group_members') }}
    where member_type = 2
),

store_members as (
    select * from {{ ref('stg_store__members') }}
),

referrals as (
    select * from {{ ref('prep_customer_referrals') }}
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

friendships as (
    select customer_nodes.customer_id, min(relations.added_at) as friend_since, count(*) as live_friendships
    from customer_nodes
    inner join relations
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'relations.external_userid') }}
    group by customer_nodes.customer_id
),

group_memberships as (
    select
        customer_nodes.customer_id, min(group_members.joined_at) as group_member_since,
        count(distinct group_members.chat_id) as groups_joined
    from customer_nodes
    inner join group_members
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'group_members.member_id') }}
    group by customer_nodes.customer_id
),

memberships as (
    select customer_nodes.customer_id, min(store_members.registered_at) as member_since
    from customer_nodes
    inner join store_members
        on {{ siyu.customer_node_is('customer_nodes', 'member_card', 'store_members.member_card') }}
    group by customer_nodes.customer_id
),

referrers as (
    select referrer_id as customer_id, min(referred_at) as koc_since, count(distinct referred_id) as referrals
    from referrals
    group by referrer_id
),

final as (
    select
        customers.customer_id,
        cast(customers.first_seen_at as date) as connected_on,
        friendships.friend_since,
        coalesce(friendships.live_friendships, 0) as live_friendships,
        group_memberships.group_member_since,
        coalesce(group_memberships.groups_joined, 0) as groups_joined,
        memberships.member_since,
        customers.has_shop_account,
        customers.has_unionid,
        referrers.koc_since,
        coalesce(referrers.referrals, 0) as referrals,
        (case when friendships.customer_id is not null then 1 else 0 end)
        + (case when group_memberships.customer_id is not null then 1 else 0 end)
        + (case when memberships.customer_id is not null then 1 else 0 end)
        + (case when customers.has_shop_account then 1 else 0 end)
        + (case when customers.has_unionid then 1 else 0 end) as connected_channels
    from customers
    left join friendships on customers.customer_id = friendships.customer_id
    left join group_memberships on customers.customer_id = group_memberships.customer_id
    left join memberships on customers.customer_id = memberships.customer_id
    left join referrers on customers.customer_id = referrers.customer_id
)

select * from final
