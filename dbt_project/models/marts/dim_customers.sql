-- The golden record: one row per customer_id. Personal identifiers appear only hashed.

with

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

relations as (
    select * from {{ ref('stg_wecom__follow_relations') }}
),

contacts as (
    select * from {{ ref('stg_wecom__external_contacts') }}
),

store_members as (
    select * from {{ ref('stg_store__members') }}
),

-- Fields to take the extreme of: first and last time any identifier was seen.
seen as (
    select
        customer_id,
        min(customer_since) as customer_since,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        count(*) as identifiers,
        sum(case when id_type = 'phone' then 1 else 0 end) as phones,
        max(case when id_type = 'unionid' then 1 else 0 end) = 1 as has_unionid,
        max(case when id_type = 'yz_open_id' then 1 else 0 end) = 1 as has_shop_account,
        max(case when id_type = 'member_card' then 1 else 0 end) = 1 as is_member,
        max(case when id_type = 'external_userid' then 1 else 0 end) = 1 as is_wecom_contact
    from customer_nodes
    group by customer_id
),

-- Most frequent: the phone seen in the most records (ties: the smallest), hashed.
phone_ranked as (
    select
        customer_id,
        id_value,
        row_number() over (partition by customer_id order by records desc, id_value asc) as phone_rank
    from customer_nodes
    where id_type = 'phone'
),

-- Latest non-null: the guide who added the customer most recently among live friendships (inherited
-- friendships share one time, so the contact id breaks ties).
guide_ranked as (
    select
        customer_nodes.customer_id,
        relations.guide_userid,
        relations.channel_state,
        row_number() over (
            partition by customer_nodes.customer_id
            order by relations.added_at desc, relations.guide_userid asc, relations.external_userid asc
        ) as guide_rank
    from customer_nodes
    inner join relations
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'relations.external_userid') }}
),

-- Source priority: the earliest store membership gives home store, gender and birth year; WeCom's
-- contact record gives gender when there is no membership.
-- True if ever true: one opt-out on any membership opts the customer out.
membership_ranked as (
    select
        customer_nodes.customer_id,
        store_members.store_id,
        store_members.gender,
        store_members.birthday,
        min(case when store_members.marketing_opt_in then 1 else 0 end)
            over (partition by customer_nodes.customer_id)
        = 0 as opted_out,
        row_number() over (
            partition by customer_nodes.customer_id order by store_members.registered_at, store_members.member_card
        ) as membership_rank
    from customer_nodes
    inner join store_members
        on {{ siyu.customer_node_is('customer_nodes', 'member_card', 'store_members.member_card') }}
),

contact_gender as (
    select customer_nodes.customer_id, max(contacts.gender) as gender
    from customer_nodes
    inner join contacts
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'contacts.external_userid') }}
    group by customer_nodes.customer_id
),

final as (
    select
        seen.customer_id,
        seen.customer_since,
        seen.first_seen_at,
        seen.last_seen_at,
        seen.identifiers,
        seen.phones,
        {{ siyu.hash_identifier('phone_ranked.id_value') }} as primary_phone_hash,
        seen.has_unionid,
        seen.has_shop_account,
        seen.is_member,
        seen.is_wecom_contact,
        guide_ranked.guide_userid,
        guide_ranked.channel_state as acquisition_state,
        membership_ranked.store_id as home_store_id,
        coalesce(membership_ranked.gender, contact_gender.gender, 0) as gender,
        extract(year from membership_ranked.birthday) as birth_year,
        coalesce(membership_ranked.opted_out, false) as opted_out
    from seen
    left join phone_ranked on seen.customer_id = phone_ranked.customer_id and phone_ranked.phone_rank = 1
    left join guide_ranked on seen.customer_id = guide_ranked.customer_id and guide_ranked.guide_rank = 1
    left join membership_ranked
        on
            seen.customer_id = membership_ranked.customer_id
            and membership_ranked.membership_rank = 1
    left join contact_gender on seen.customer_id = contact_gender.customer_id
)

select * from final
