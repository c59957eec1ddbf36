-- One row per customer and day with an interaction after connecting: a message the customer sent to a
-- guide or in a group (session archive), or a purchase. Feeds the 33 rule and personas (domain.md §3).

with

messages as (
    select * from {{ ref('stg_store__messages') }}
),

orders as (
    select * from {{ ref('int_customer_orders') }}
),

contacts as (
    select customer_id, id_value as external_userid from {{ ref('int_customer_nodes') }}
    where id_type = 'external_userid'
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
