-- The channel funnel (seed 004 §93) per contact-way state (channel QR code) and period of the add:
-- contacts added, still connected 7 and 30 days after the add, first paid order within 30 days of the
-- add, and conversion = first orders within 30 days / contacts added (good paths reach 30%). The windows
-- are vars channel_retention_short_days, channel_retention_long_days and channel_conversion_days.
-- "Still connected" reads every daily snapshot of the friendships (folded by month): a friendship counts as
-- connected on a day when it is in that day's snapshot, or in a later one. Adds younger than 7 or 30 days at the last
-- snapshot are not yet measurable (null).

{%- set short_days = var('channel_retention_short_days') %}
{%- set long_days = var('channel_retention_long_days') %}
{%- set conversion_days = var('channel_conversion_days') %}

with

-- Every snapshot, folded by month (int_friendship_months): the last day a friendship was seen is its
-- months' latest.
relations as (
    select * from {{ ref('int_friendship_months') }}
),

snapshots as (
    select guide_userid, external_userid, max(last_seen_on) as last_seen_on
    from relations
    group by guide_userid, external_userid
),

latest as (
    select max(last_seen_on) as last_snapshot from relations
),

adds as (
    select guide_userid, external_userid, min(added_at) as added_at, min(channel_state) as channel_state
    from relations
    group by guide_userid, external_userid
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

orders as (
    select customer_id, min(paid_at) as first_paid_at from {{ ref('prep_customer_orders') }}
    group by customer_id
),

grains as (
    {{ siyu.period_grains() }}
),

contacts as (
    select
        adds.*,
        {{ dbt.split_part("coalesce(adds.channel_state, 'none_s0')", "'_s'", 1) }} as channel,
        coalesce(adds.channel_state, 'none') as state,
        snapshots.last_seen_on,
        latest.last_snapshot,
        orders.first_paid_at
    from adds
    inner join snapshots
        on
            adds.guide_userid = snapshots.guide_userid
            and adds.external_userid = snapshots.external_userid
    cross join latest
    left join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'adds.external_userid') }}
    left join orders on customer_nodes.customer_id = orders.customer_id
),

flags as (
    select
        *,
        case
            when {{ dbt.dateadd('day', short_days, 'cast(added_at as date)') }} <= last_snapshot
                then
                    case
                        when last_seen_on >= {{ dbt.dateadd('day', short_days, 'cast(added_at as date)') }} then 1
                        else 0
                    end
        end as connected_7d,
        case
            when {{ dbt.dateadd('day', long_days, 'cast(added_at as date)') }} <= last_snapshot
                then
                    case
                        when last_seen_on >= {{ dbt.dateadd('day', long_days, 'cast(added_at as date)') }} then 1
                        else 0
                    end
        end as connected_30d,
        case
            when
                first_paid_at >= added_at
                and first_paid_at < {{ dbt.dateadd('day', conversion_days, 'added_at') }} then 1
            else 0
        end as ordered_30d
    from contacts
),

final as (
    select
        grains.period_grain,
        {{ siyu.period_start('grains.period_grain', 'flags.added_at') }} as period_start,
        flags.state,
        flags.channel,
        count(*) as contacts_added,
        sum(flags.connected_7d) as connected_after_7d,
        sum(flags.connected_30d) as connected_after_30d,
        {{ siyu.ratio('sum(flags.connected_7d)', 'count(flags.connected_7d)') }} as retention_7d,
        {{ siyu.ratio('sum(flags.connected_30d)', 'count(flags.connected_30d)') }} as retention_30d,
        sum(flags.ordered_30d) as first_orders_30d,
        {{ siyu.ratio('sum(flags.ordered_30d)', 'count(*)') }} as conversion_30d,
        {{ siyu.kpi_unavailable_reason('kpi_channels') }} as unavailable_reason
    from flags
    cross join grains
    group by 1, 2, 3, 4
)

select * from final
