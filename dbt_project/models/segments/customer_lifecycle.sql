-- One row per customer as of the snapshot date: lifecycle stage and the day they entered it, order
-- milestone, the 33 rule and the acquisition channel (domain.md §3; thresholds are vars).

with

daily as (
    select * from {{ ref('customer_segments_daily') }}
    where snapshot_date = {{ siyu.snapshot_date() }}
),

orders as (
    select * from {{ ref('prep_customer_orders') }}
    where paid_on <= {{ siyu.snapshot_date() }}
),

connections as (
    select * from {{ ref('prep_customer_connections') }}
),

interactions as (
    select * from {{ ref('prep_customer_interactions') }}
    where interacted_on <= {{ siyu.snapshot_date() }}
),

customers as (
    select customer_id, acquisition_state from {{ ref('dim_customers') }}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

-- An order after a gap longer than the dormant threshold starts a new active episode (a win-back).
order_gaps as (
    select
        customer_id,
        paid_on,
        order_number,
        {{ dbt.datediff('lag(paid_on) over (partition by customer_id order by order_number)', 'paid_on', 'day') }}
            as days_since_previous
    from orders
),

order_marks as (
    select
        customer_id,
        min(paid_on) as first_order_on,
        max(case
            when order_number = 1 or days_since_previous > {{ var('lifecycle_dormant_days') }}
                then paid_on
        end) as episode_started_on,
        max(case when order_number = {{ var('lifecycle_maturity_orders') }} then paid_on end) as matured_on
    from order_gaps
    group by customer_id
),

-- The 33 rule: weeks after connecting with an interaction; a run of consecutive weeks is an island.
interaction_days as (
    select
        interactions.customer_id,
        {{ dbt.datediff('connections.connected_on', 'interactions.interacted_on', 'day') }} as days_connected  -- noqa: LT05
    from interactions
    inner join connections on interactions.customer_id = connections.customer_id
    where interactions.interacted_on >= connections.connected_on
),

interaction_weeks as (
    select distinct
        customer_id,
        cast(floor(days_connected / 7) as integer) as week_number
    from interaction_days
),

week_islands as (
    select
        customer_id, week_number, week_number - row_number() over (
            partition by customer_id order by week_number
        ) as island
    from interaction_weeks
),

streaks as (
    select customer_id, min(week_number) as first_week, count(*) as weeks
    from week_islands
    group by customer_id, island
),

rule33 as (
    select customer_id, max(weeks) as longest_streak_weeks
    from streaks
    where first_week < {{ var('rule33_window_weeks') }}
    group by customer_id
),

final as (
    select
        daily.snapshot_date,
        daily.customer_id,
        daily.lifecycle_stage,
        stages.stage_zh,
        stages.stage_en,
        cast(
            case daily.lifecycle_stage
                when 'introduction' then connections.connected_on
                when 'growth'
                    then greatest(
                        {{ dbt.dateadd('day', var('lifecycle_intro_days'), 'order_marks.first_order_on') }},
                        order_marks.episode_started_on
                    )
                when 'maturity' then greatest(order_marks.matured_on, order_marks.episode_started_on)
                when 'dormant' then {{ dbt.dateadd('day', var('lifecycle_dormant_days') + 1,
                    dbt.dateadd('day', '-daily.recency_days', 'daily.snapshot_date')) }}
                when 'churned' then {{ dbt.dateadd('day', var('lifecycle_churn_days') + 1,
                    dbt.dateadd('day', '-daily.recency_days', 'daily.snapshot_date')) }}
            end as date
        ) as stage_entered_on,
        daily.lifetime_orders,
        daily.order_milestone,
        daily.lifetime_orders >= 5 as habit_formed,
        connections.connected_channels,
        coalesce(rule33.longest_streak_weeks, 0) as longest_active_streak_weeks,
        (
            connections.connected_channels >= {{ var('rule33_channels') }}
            and coalesce(rule33.longest_streak_weeks, 0) >= {{ var('rule33_weeks') }}
        ) as is_rule33_quality,
        customers.acquisition_state,
        coalesce({{ dbt.split_part('customers.acquisition_state', "'_s'", 1) }}, 'none') as acquisition_channel
    from daily
    inner join stages on daily.lifecycle_stage = stages.lifecycle_stage
    inner join connections on daily.customer_id = connections.customer_id
    inner join customers on daily.customer_id = customers.customer_id
    left join order_marks on daily.customer_id = order_marks.customer_id
    left join rule33 on daily.customer_id = rule33.customer_id
)

select * from final
