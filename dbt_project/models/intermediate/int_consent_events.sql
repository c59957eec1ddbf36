-- One row per customer and consent event, with its time and source (provenance):
--   store_form   a store membership's marketing consent (营销同意) as the store reports it, given when the
--                member registered
--   <recorded>   events siyu.privacy recorded (`siyu consent`): a WeCom callback, a shop setting, a store
--                form, customer service; matched to the customer through the keyed pseudonym of any of
--                her identifiers

with

store_members as (
    select * from {{ ref('stg_store__members') }}
),

recorded as (
    select * from {{ ref('stg_privacy__consent_events') }}
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

customer_pseudonyms as (
    select * from {{ ref('int_customer_pseudonyms') }}
),

memberships as (
    select
        customer_nodes.customer_id,
        'member:' || store_members.member_card as event_id,
        store_members.marketing_opt_in as marketing_consent,
        store_members.registered_at as event_at,
        'store_form' as consent_source
    from store_members
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'member_card', 'store_members.member_card') }}
    where store_members.marketing_opt_in is not null and store_members.registered_at is not null
),

recorded_events as (
    select distinct
        customer_pseudonyms.customer_id,
        recorded.event_id,
        recorded.marketing_consent,
        recorded.event_at,
        recorded.consent_source
    from recorded
    inner join customer_pseudonyms on recorded.pseudonym = customer_pseudonyms.pseudonym
),

final as (
    select * from memberships
    union all
    select * from recorded_events
)

select * from final
