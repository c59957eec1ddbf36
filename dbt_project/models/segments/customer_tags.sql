-- Every tag a customer carries, computed or set by people, in one long table with its history
-- (domain.md §3): one row per customer, tag and uninterrupted period. valid_to is the first day the tag
-- no longer held (null while it holds). Sources:
--   computed  RFM segment, lifecycle stage, order milestone, ladder rung (from customer_segments_daily,
--             so their history is as long as that table's); persona and acquisition channel (as of the
--             snapshot date: no history yet)
--   wecom     corp tags guides set on the friendship (from every daily snapshot of the friendships)
--   store     the membership's store and the marketing opt-in

with

daily as (
    select * from {{ ref('customer_segments_daily') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

personas as (
    select * from {{ ref('customer_personas') }}
),

connections as (
    select * from {{ ref('prep_customer_connections') }}
),

tag_snapshots as (
    select * from {{ ref('stg_wecom__relation_tag_snapshots') }}
),

corp_tags as (
    select * from {{ ref('stg_wecom__corp_tags') }}
),

store_members as (
    select * from {{ ref('stg_store__members') }}
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

-- Daily values, one row per customer, day and tag; then islands of consecutive days.
computed_daily as (
    select customer_id, snapshot_date, 'rfm_segment' as tag_group, rfm_segment as tag from daily
    union all
    select customer_id, snapshot_date, 'lifecycle_stage', lifecycle_stage from daily
    union all
    select customer_id, snapshot_date, 'order_milestone', order_milestone from daily
    union all
    select customer_id, snapshot_date, 'ladder_rung', ladder_rung from daily
),

computed_days as (
    select distinct snapshot_date from daily
),

wecom_daily as (
    select
        customer_nodes.customer_id,
        tag_snapshots.snapshot_date,
        coalesce(corp_tags.tag_group_name, 'wecom') as tag_group,
        coalesce(corp_tags.tag_name, tag_snapshots.tag_id) as tag
    from tag_snapshots
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'tag_snapshots.external_userid') }}
    left join corp_tags on tag_snapshots.tag_id = corp_tags.tag_id
),

wecom_days as (
    select distinct snapshot_date from tag_snapshots
),

-- Days are numbered so that two stored days in a row are consecutive even when a day is missing.
numbered_days as (
    select 'computed' as source, snapshot_date, dense_rank() over (order by snapshot_date) as day_number
    from computed_days
    union all
    select 'wecom', snapshot_date, dense_rank() over (order by snapshot_date)
    from wecom_days
),

tag_days as (
    select distinct 'computed' as source, customer_id, snapshot_date, tag_group, tag from computed_daily
    union all
    select distinct 'wecom', customer_id, snapshot_date, tag_group, tag from wecom_daily
),

islands as (
    select
        tag_days.source,
        tag_days.customer_id,
        tag_days.tag_group,
        tag_days.tag,
        tag_days.snapshot_date,
        numbered_days.day_number - row_number() over (
            partition by tag_days.source, tag_days.customer_id, tag_days.tag_group, tag_days.tag
            order by tag_days.snapshot_date
        ) as island
    from tag_days
    inner join numbered_days on
        tag_days.source = numbered_days.source
        and tag_days.snapshot_date = numbered_days.snapshot_date
),

periods as (
    select source, customer_id, tag_group, tag, min(snapshot_date) as valid_from, max(snapshot_date) as last_day
    from islands
    group by source, customer_id, tag_group, tag, island
),

-- A period ends on the next stored day after its last one; it is open when its last day is the latest.
history as (
    select
        periods.customer_id,
        periods.tag_group,
        periods.tag,
        periods.source,
        periods.valid_from,
        (
            select min(numbered_days.snapshot_date) from numbered_days
            where numbered_days.source = periods.source and numbered_days.snapshot_date > periods.last_day)
            as valid_to
    from periods
),

current_only as (
    select
        customer_id, 'persona' as tag_group, persona as tag, 'computed' as source,
        snapshot_date as valid_from, cast(null as date) as valid_to
    from personas
    union all
    select
        customer_id, 'acquisition_channel', lifecycle.acquisition_channel, 'computed',
        connections.connected_on, cast(null as date)
    from lifecycle
    inner join connections using (customer_id)
    union all
    select
        customer_id, 'rule33', case when is_rule33_quality then 'quality' else 'not_yet' end, 'computed',
        snapshot_date, cast(null as date)
    from lifecycle
),

store_tags as (
    select
        customer_nodes.customer_id, 'member_store' as tag_group, store_members.store_id as tag, 'store' as source,
        cast(store_members.registered_at as date) as valid_from, cast(null as date) as valid_to
    from store_members
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'member_card', 'store_members.member_card') }}
    union all
    select
        customer_nodes.customer_id, 'marketing_consent',
        case when store_members.marketing_opt_in then 'opted_in' else 'opted_out' end, 'store',
        cast(store_members.registered_at as date), cast(null as date)
    from store_members
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'member_card', 'store_members.member_card') }}
),

unioned as (
    select * from history
    union all
    select * from current_only
    union all
    select * from store_tags
),

final as (
    select
        customer_id,
        tag_group,
        tag,
        source,
        min(valid_from) as valid_from,
        valid_to,
        valid_to is null as is_current
    from unioned
    group by customer_id, tag_group, tag, source, valid_to
)

select * from final
