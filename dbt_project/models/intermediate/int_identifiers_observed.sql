-- One row per identifier seen in one source record: the nodes of the identity graph, with the record
-- that saw them (domain.md §2). id_type: external_userid, unionid, phone, yz_open_id, openid, member_card.

with

contacts as (
    select * from {{ ref('stg_wecom__external_contacts') }}
),

members_of_groups as (
    select * from {{ ref('stg_wecom__group_members') }}
    where member_type = 2
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

shop_users as (
    select * from {{ ref('stg_shop__users') }}
),

store_members as (
    select * from {{ ref('stg_store__members') }}
),

pos_lines as (
    select * from {{ ref('stg_store__pos_lines') }}
),

-- Friendships and the phones noted on them in any snapshot (folded by month): a friendship the customer
-- later deleted still tells whose phone it was.
relation_snapshots as (
    select distinct guide_userid, external_userid, added_at
    from {{ ref('int_friendship_months') }}
),

relation_phones as (
    select distinct guide_userid, external_userid, added_at, remark_mobile
    from {{ ref('int_friendship_months') }}
    where remark_mobile is not null
),

observed as (
    select
        'wecom' as source_name, 'contact:' || external_userid as record_id,
        'external_userid' as id_type, external_userid as id_value, cast(snapshot_date as timestamp) as observed_at
    from contacts
    union all
    select 'wecom', 'contact:' || external_userid, 'unionid', unionid, cast(snapshot_date as timestamp)
    from contacts
    union all
    select 'wecom', 'relation:' || guide_userid || ':' || external_userid, 'external_userid', external_userid, added_at
    from relation_snapshots
    union all
    select
        'wecom', 'relation:' || guide_userid || ':' || external_userid, 'phone',
        {{ siyu.normalize_phone('remark_mobile') }}, added_at
    from relation_phones
    union all
    select 'wecom', 'group_member:' || chat_id || ':' || member_id, 'external_userid', member_id, joined_at
    from members_of_groups
    union all
    select 'wecom', 'group_member:' || chat_id || ':' || member_id, 'unionid', unionid, joined_at
    from members_of_groups
    union all
    select 'shop', 'order:' || order_id, 'yz_open_id', yz_open_id, created_at
    from orders
    union all
    select 'shop', 'order:' || order_id, 'openid', wechat_openid, created_at
    from orders
    union all
    select 'shop', 'order:' || order_id, 'phone', buyer_phone_e164, created_at
    from orders
    union all
    select 'shop', 'user:' || yz_open_id, 'yz_open_id', yz_open_id, null
    from shop_users
    union all
    select 'shop', 'user:' || yz_open_id, 'phone', mobile_e164, null
    from shop_users
    union all
    select 'shop', 'user:' || yz_open_id, 'unionid', unionid, null
    from shop_users
    union all
    select 'shop', 'user:' || yz_open_id, 'openid', wechat_openid, null
    from shop_users
    union all
    select 'store', 'member:' || member_card, 'member_card', member_card, registered_at
    from store_members
    union all
    select 'store', 'member:' || member_card, 'phone', phone_e164, registered_at
    from store_members
    union all
    select 'store', 'receipt:' || receipt_id, 'member_card', member_card, sold_at
    from pos_lines
    union all
    select 'store', 'receipt:' || receipt_id, 'phone', phone_e164, sold_at
    from pos_lines
),

final as (
    select
        source_name,
        record_id,
        id_type,
        id_value,
        id_type || ':' || id_value as node_key,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at
    from observed
    where id_value is not null
    group by source_name, record_id, id_type, id_value
)

select * from final
