-- One row per person brought by an existing customer: a shop order placed through a customer's share
-- link (source_channel referral, source_ref = the referrer's yz_open_id) or a group member who joined
-- by a customer's fission poster (join state fx_ + the inviter's external_userid, cut to 24 characters).

with

orders as (
    select * from {{ ref('fct_orders') }}
),

shop_orders as (
    select order_id, source_ref from {{ ref('stg_shop__orders') }}
),

group_members as (
    select * from {{ ref('stg_wecom__group_members') }}
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

by_share_link as (
    select
        referrer.customer_id as referrer_id,
        orders.customer_id as referred_id,
        'share_link' as referral_kind,
        orders.paid_at as referred_at
    from orders
    inner join shop_orders on orders.order_id = shop_orders.order_id
    inner join customer_nodes as referrer
        on {{ siyu.customer_node_is('referrer', 'yz_open_id', 'shop_orders.source_ref') }}
    where orders.source_channel = 'referral' and orders.is_paid
),

by_fission_poster as (
    select
        inviter.customer_id as referrer_id,
        joined.customer_id as referred_id,
        'fission_poster' as referral_kind,
        group_members.joined_at as referred_at
    from group_members
    -- The poster carries the inviter's id cut to 24 characters: matched on the cut value.
    inner join customer_nodes as inviter
        on
            inviter.id_type = 'external_userid'
            and left(inviter.id_value, 24) = substring(group_members.join_state, 4)
    inner join customer_nodes as joined
        on {{ siyu.customer_node_is('joined', 'external_userid', 'group_members.member_id') }}
    where group_members.member_type = 2 and substr(group_members.join_state, 1, 3) = 'fx_'
),

unioned as (
    select * from by_share_link
    union all
    select * from by_fission_poster
),

final as (
    select
        referrer_id,
        referred_id,
        referral_kind,
        min(referred_at) as referred_at
    from unioned
    where referrer_id != referred_id and referred_id is not null
    group by referrer_id, referred_id, referral_kind
)

select * from final
