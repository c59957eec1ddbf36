-- One row per customer and reason they must not be targeted (domain.md §5), whatever the audience:
--   opted_out           her latest consent event withdrew marketing consent (int_customer_consent: a store
--                       form, a WeCom callback, a shop setting; the latest wins)
--   erased              an identifier or id of hers is on the suppression list of erased customers (keyed
--                       pseudonyms, siyu.privacy): records re-ingested after her erasure reach no audience
--   friendship_deleted  a friendship seen in an earlier snapshot is gone from the latest: WeCom tells who
--                       deleted only through callbacks, so siyu assumes the customer did (docs/decisions.md)
--   frequency_cap       sent to on frequency_cap_per_window days of the frequency_cap_window_days before
--                       the snapshot date (WeCom's limit on mass messages a customer receives)
-- prep_: the snapshot date (macro snapshot_date) is the latest paid order's day, read from the mart-fed
-- prep_customer_orders, so this step sits beside the audience marts it feeds.

with

consent as (
    select * from {{ ref('int_customer_consent') }}
),

suppression_list as (
    select * from {{ ref('stg_privacy__suppressions') }}
),

customer_pseudonyms as (
    select * from {{ ref('int_customer_pseudonyms') }}
),

-- Every friendship snapshot, folded by month.
friendship_months as (
    select * from {{ ref('int_friendship_months') }}
),

sends as (
    select * from {{ ref('stg_activation__sends') }}
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

last_seen as (
    select guide_userid, external_userid, max(last_seen_on) as last_seen_on
    from friendship_months
    group by guide_userid, external_userid
),

deleted as (
    select distinct customer_nodes.customer_id
    from last_seen
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'last_seen.external_userid') }}
    where last_seen.last_seen_on < (select max(friendship_months.last_seen_on) from friendship_months)
),

erased as (
    select customer_pseudonyms.customer_id
    from customer_pseudonyms
    inner join suppression_list on customer_pseudonyms.pseudonym = suppression_list.pseudonym
),

-- Sends before the snapshot date: the day's own export is what this run produces (a rerun of the day
-- must give the same audiences), and one audience per customer per day keeps the daily limit.
capped as (
    select customer_id
    from sends
    where
        sent_on > {{ dbt.dateadd('day', -var('frequency_cap_window_days'), siyu.snapshot_date()) }}
        and sent_on < {{ siyu.snapshot_date() }}
    group by customer_id
    having count(distinct sent_on) >= {{ var('frequency_cap_per_window') }}
),

final as (
    select customer_id, 'opted_out' as reason from consent
    where not marketing_consent
    union all
    select customer_id, 'erased' from erased
    union all
    select customer_id, 'friendship_deleted' from deleted
    union all
    select customer_id, 'frequency_cap' from capped
)

select distinct customer_id, reason from final
