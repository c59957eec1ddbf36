-- One row per group and external member with the member's purchase depth as of the snapshot date
-- (seed 004 §151): distributor (a KOC: brought others), vip (RFM monetary score 5), repeat (2+ purchases),
-- first_purchase (1), never_bought. The first that holds.

with

members as (
    select * from {{ ref('stg_wecom__group_members') }}
    where member_type = 2
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

ladder as (
    select * from {{ ref('customer_ladder') }}
),

segments as (
    select customer_id, lifetime_orders from {{ ref('customer_segments_daily') }}
    where snapshot_date = {{ siyu.snapshot_date() }}
),

final as (
    select
        members.chat_id,
        members.member_id,
        customer_nodes.customer_id,
        case
            when ladder.ladder_rung = 'koc' then 'distributor'
            when rfm.m_score = 5 then 'vip'
            when segments.lifetime_orders >= 2 then 'repeat'
            when segments.lifetime_orders = 1 then 'first_purchase'
            else 'never_bought'
        end as purchase_depth
    from members
    left join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'members.member_id') }}
    left join rfm on customer_nodes.customer_id = rfm.customer_id
    left join ladder on customer_nodes.customer_id = ladder.customer_id
    left join segments on customer_nodes.customer_id = segments.customer_id
)

select * from final
