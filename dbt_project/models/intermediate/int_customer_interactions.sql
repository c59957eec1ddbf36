-- One row per customer and day with an interaction after connecting: a message the customer sent to a
-- guide or in a group (session archive), or a purchase. Feeds the 33 rule and personas (domain.md §3).

with

messages as (
    select * from {{ ref('stg_store__messages') }}
),

orders as (
    select * from {{ ref('int_customer_orders') }}
),

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

nodes as (
    select node_key, id_type, id_value from {{ ref('int_identity_nodes') }}
),

contacts as (
    select identity_map.customer_id, nodes.id_value as external_userid
    from identity_map
    inner join nodes on identity_map.node_key = nodes.node_key
    where nodes.id_type = 'external_userid'
),

events as (
    select
        contacts.customer_id,
        cast(messages.sent_at as date) as interacted_on,
        case when messages.chat_id is null then 'chat' else 'group_message' end as interaction_kind
    from messages
    inner join contacts on messages.sender_id = contacts.external_userid
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
