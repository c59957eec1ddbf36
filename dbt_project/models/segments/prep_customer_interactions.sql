-- One row per customer and day with an interaction after connecting: a message the customer sent to a
-- guide or in a group (session archive), or a purchase. Feeds the 33 rule and personas (domain.md §3).

with

messages as (
    select * from {{ ref('stg_wecom__messages') }}
),

orders as (
    select * from {{ ref('prep_customer_orders') }}
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

events as (
    select
        customer_nodes.customer_id,
        cast(messages.sent_at as date) as interacted_on,
        case when messages.chat_id is null then 'chat' else 'group_message' end as interaction_kind
    from messages
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'messages.sender_id') }}
    union all
    select customer_id, paid_on, 'purchase'
    from orders
),

final as (
    select
        customer_id,
        interacted_on,
        sum(case when interaction_kind = 'chat' then 1 else 0 end) as chats,
        sum(case when interaction_kind = 'group_message' then 1 else 0 end) as group_messages,
        sum(case when interaction_kind = 'purchase' then 1 else 0 end) as purchases
    from events
    group by customer_id, interacted_on
)

select * from final
