{{ config(
    materialized='incremental',
    unique_key='snapshot_date',
    incremental_strategy=siyu.incremental_strategy(),
    partition_by=siyu.partition_by('snapshot_date'),
    on_schema_change='fail'
) }}
-- One row per day and customer: RFM (F per var rfm_frequency, F and M over var rfm_window_days), the
-- 8-class segment, lifecycle stage, order milestone and ladder
-- rung as of that day (domain.md §3). Incremental: each run adds the days after the last one stored, up
-- to the snapshot date, recomputes the snapshot date, and revises the stored days late data changed (see
-- bounds); a full refresh rebuilds from segments_history_start. Both give the same rows
-- (tests/test_segments.py, tests/test_late_orders.py). Past days keep the customer_id of their day:
-- customer_merges maps ids merged since.

{% if var('rfm_frequency') not in ('purchases', 'purchase_days') %}
    {% do exceptions.raise_compiler_error(
        "var rfm_frequency must be 'purchases' or 'purchase_days', not '" ~ var('rfm_frequency') ~ "'"
    ) %}
{% endif %}
{% set in_window = '(day_windows.rfm_window_start is null or orders.paid_on > day_windows.rfm_window_start)' %}

with

orders as (
    select * from {{ ref('prep_customer_orders') }}
),

connections as (
    select * from {{ ref('prep_customer_connections') }}
),

{% if is_incremental() -%}
-- Late data: an order, a refund or a till receipt that arrives after its days were stored (a till that
-- was offline, a pull that failed, a refund weeks later) shows as a stored day whose purchases no longer
-- add up. Per stored day, within var segments_revision_max_days of the last one, the stored rows' lifetime
-- orders and RFM monetary summed over customers are compared with the same sums from the orders as they
-- are now; the first day that differs is recomputed with every day after it.
stored_days as (
    select
        snapshot_date,
        sum(lifetime_orders) as purchases,
        sum(monetary) as monetary
    from {{ this }}
    where
        snapshot_date >= (
            select cast({{ dbt.dateadd('day', -var('segments_revision_max_days'), 'max(snapshot_date)') }} as date)
            from {{ this }}
        )
    group by snapshot_date
),

-- Each purchase counts from the day both it and its customer exist (as customer_days below), and its
-- amount leaves the RFM window var rfm_window_days after it was paid.
purchase_counted as (
    select
        orders.paid_on,
        orders.net_amount,
        greatest(orders.paid_on, coalesce(connections.connected_on, orders.paid_on)) as counted_from
    from orders
    inner join connections on orders.customer_id = connections.customer_id
),

purchase_changes as (
    select counted_from as changed_on, 1 as purchases, net_amount as monetary
    from purchase_counted
    {%- if var('rfm_window_days') is not none %}
    union all
    select
        cast({{ dbt.dateadd('day', var('rfm_window_days'), 'paid_on') }} as date) as changed_on,
        0 as purchases,
        -net_amount as monetary
    from purchase_counted
    where cast({{ dbt.dateadd('day', var('rfm_window_days'), 'paid_on') }} as date) > counted_from
    {%- endif %}
),

changes_by_day as (
    select changed_on, sum(purchases) as purchases, sum(monetary) as monetary
    from purchase_changes
    group by changed_on
),

expected_days as (
    select
        stored_days.snapshot_date,
        coalesce(sum(changes_by_day.purchases), 0) as purchases,
        coalesce(sum(changes_by_day.monetary), 0) as monetary
    from stored_days
    left join changes_by_day on changes_by_day.changed_on <= stored_days.snapshot_date
    group by stored_days.snapshot_date
),

first_changed_day as (
    select min(stored_days.snapshot_date) as snapshot_date
    from stored_days
    inner join expected_days on stored_days.snapshot_date = expected_days.snapshot_date
    where
        coalesce(stored_days.purchases, 0) != expected_days.purchases
        or coalesce(stored_days.monetary, 0) != expected_days.monetary
),
{%- endif %}

-- noqa: disable=LT02
bounds as (
    select
        {% if is_incremental() -%}
        -- The snapshot day itself is always recomputed (its rows replaced whole: delete+insert by day), so a
        -- rerun after identity changed leaves no customer id of the day behind; late data recomputes from
        -- the first stored day it changed (first_changed_day).
        least(
            (select cast({{ dbt.dateadd('day', 1, 'max(snapshot_date)') }} as date) from {{ this }}),
            {{ siyu.snapshot_date() }},
            coalesce((select snapshot_date from first_changed_day), {{ siyu.snapshot_date() }})
        ) as first_day,
        {%- elif var('segments_history_start') -%}
        cast('{{ var("segments_history_start") }}' as date) as first_day,
        {%- else -%}
        cast({{ dbt.dateadd('day', -var('segments_history_days'), siyu.snapshot_date()) }} as date) as first_day,
        {%- endif %}
        {{ siyu.snapshot_date() }} as last_day
),
-- noqa: enable=LT02

-- Days from first_day to last_day (up to var day_spine_max_days).
day_numbers as (
    {{ siyu.day_offsets() }}
),

days as (
    select cast({{ dbt.dateadd('day', 'day_numbers.day_offset', 'bounds.first_day') }} as date) as snapshot_date
    from day_numbers
    cross join bounds
    where {{ dbt.dateadd('day', 'day_numbers.day_offset', 'bounds.first_day') }} <= bounds.last_day
),

-- Customers exist from the day they were first connected (or first bought).
customer_days as (
    select days.snapshot_date, connections.*
    from days
    inner join connections on coalesce(connections.connected_on, days.snapshot_date) <= days.snapshot_date
),

-- Purchases paid after rfm_window_start count towards frequency and monetary; var rfm_window_days null
-- counts all history (no start).
day_windows as (
    select
        snapshot_date,
        {% if var('rfm_window_days') is not none -%}
            {{ dbt.dateadd('day', -var('rfm_window_days'), 'snapshot_date') }}
        {%- else -%}
            cast(null as date)
        {%- endif %} as rfm_window_start
    from days
),

order_days as (
    select
        day_windows.snapshot_date,
        orders.customer_id,
        count(*) as lifetime_orders,
        min(orders.paid_on) as first_order_on,
        max(orders.paid_on) as last_order_on,
        -- var rfm_frequency: 'purchases' counts each order or receipt, 'purchase_days' the distinct days.
        {% if var('rfm_frequency') == 'purchase_days' -%}
            count(distinct case when {{ in_window }} then orders.paid_on end) as frequency,
        {%- else -%}
            sum(case when {{ in_window }} then 1 else 0 end) as frequency,
        {%- endif %}
        sum(case when {{ in_window }} then orders.net_amount else 0 end) as monetary
    from day_windows
    inner join orders on day_windows.snapshot_date >= orders.paid_on
    group by day_windows.snapshot_date, orders.customer_id
),

states as (
    select
        customer_days.snapshot_date,
        customer_days.customer_id,
        coalesce(order_days.lifetime_orders, 0) as lifetime_orders,
        order_days.first_order_on,
        order_days.last_order_on,
        {{ dbt.datediff('order_days.last_order_on', 'customer_days.snapshot_date', 'day') }} as recency_days,  -- noqa: LT05
        -- One type whichever F is counted, so changing var rfm_frequency never breaks the incremental table.
        cast(coalesce(order_days.frequency, 0) as bigint) as frequency,
        cast(coalesce(order_days.monetary, 0) as decimal(18, 2)) as monetary,
        customer_days.member_since,
        customer_days.koc_since
    from customer_days
    left join order_days
        on
            customer_days.snapshot_date = order_days.snapshot_date
            and customer_days.customer_id = order_days.customer_id
),

-- RFM is scored among buyers of the day. R is reversed: the most recent get 5.
buyers as (
    select
        *,
        {{ siyu.quintile_score('recency_days', 'snapshot_date', descending=true) }} as r_score,
        {{ siyu.quintile_score('frequency', 'snapshot_date') }} as f_score,
        {{ siyu.quintile_score('monetary', 'snapshot_date') }} as m_score,
        recency_days < avg(recency_days) over (partition by snapshot_date) as r_high,
        frequency > avg(frequency) over (partition by snapshot_date) as f_high,
        monetary > avg(monetary) over (partition by snapshot_date) as m_high
    from states
    where lifetime_orders > 0
),

scored as (
    select
        states.*,
        buyers.r_score,
        buyers.f_score,
        buyers.m_score,
        case
            when buyers.customer_id is null then 'no_purchase'
            else
                (case when buyers.m_high then 'important_' else 'general_' end)
                || case
                    when buyers.r_high and buyers.f_high then 'value'
                    when buyers.r_high then 'development'
                    when buyers.f_high then 'retention'
                    else 'win_back'
                end
        end as rfm_segment
    from states
    left join buyers on states.snapshot_date = buyers.snapshot_date and states.customer_id = buyers.customer_id
),

final as (
    select
        snapshot_date,
        customer_id,
        recency_days,
        frequency,
        monetary,
        r_score,
        f_score,
        m_score,
        rfm_segment,
        case
            when lifetime_orders = 0 then 'introduction'
            when recency_days > {{ var('lifecycle_churn_days') }} then 'churned'
            when recency_days > {{ var('lifecycle_dormant_days') }} then 'dormant'
            when lifetime_orders >= {{ var('lifecycle_maturity_orders') }} then 'maturity'
            when {{ dbt.datediff('first_order_on', 'snapshot_date', 'day') }} < {{ var('lifecycle_intro_days') }}  -- noqa: LT05
                then 'introduction'
            else 'growth'
        end as lifecycle_stage,
        lifetime_orders,
        {{ siyu.order_milestone('lifetime_orders') }} as order_milestone,
        case
            when koc_since is not null and cast(koc_since as date) <= snapshot_date then 'koc'
            when member_since is not null and cast(member_since as date) <= snapshot_date then 'member'
            when lifetime_orders > 0 then 'customer'
            else 'fan'
        end as ladder_rung
    from scored
)

select * from final
