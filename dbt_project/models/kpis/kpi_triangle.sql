{{ siyu.kpi_period_config() }}
-- The private-domain triangle (seed 004 §18-34), overall ('all') and per store, by period. Counts are as
-- of the period's end (cumulative); reach rungs are the customers' current state (WeCom is read as
-- snapshots). A customer's store: the membership's home store, else their guide's store.
-- Ownership 私域产权力
--   connected_users     customers with a live owned connection (friendship, group, membership, shop account)
--   rung_1..rung_6      connected users who reached 可感知 perceivable (all connected), 可识别 identifiable
--                       (phone or unionid), 可触达 reachable (live friendship or group), 可营销 marketable
--                       (reachable, not opted out), 可服务 serviceable (has a guide), 可洞察 insightful (at
--                       least var triangle_insight_min_tags current tags)
--   reach_capability    mean rungs reached / 6;  ownership_power = connected_users × reach_capability
-- Value 单客价值度
--   repurchase_rate     buyers with 2+ purchases / buyers;  ltv_per_customer = net sales / buyers
--   value_index         repurchase_rate × ltv_per_customer
-- Referral 客户推荐率
--   referred_customers  new customers brought by existing ones in the period (share links, fission posters)
--   active_customers    customers who interacted or bought in the period
--   referrals_per_active = referred_customers / active_customers
--   inviter_share       customers who invited or shared at least once by the period's end / connected users
--   referral_index      referrals_per_active × inviter_share
-- Scores: each index / its brand target (var triangle_targets); area = (√3/4)(ab + bc + ca).
-- Incremental (issue 22): a run recomputes the periods that overlap the lookback (macro kpi_recompute_from)
-- and keeps the older ones as stored, with the rungs they had then. The counts as of a period's end start
-- from one opening row per store holding everything before the first recomputed day.

{#- The six reach rungs (seed 004 §18-34, domain.md §4), in the order of the rung_1..rung_6 columns below:
    reach capability is the mean of rungs reached over their number. -#}
{%- set reach_rungs = ['perceivable', 'identifiable', 'reachable', 'marketable', 'serviceable', 'insightful'] %}
{%- set recompute_from = siyu.kpi_recompute_from() if is_incremental() else none %}

with

periods as (
    select * from {{ ref('prep_kpi_days') }}
    {%- if recompute_from %}
    where period_start >= {{ recompute_from }}
    {%- endif %}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

connections as (
    select * from {{ ref('prep_customer_connections') }}
),

guides as (
    select * from {{ ref('int_guides') }}
),

tags as (
    select customer_id, count(*) as current_tags
    from {{ ref('customer_tags') }}
    where is_current
    group by customer_id
),

orders as (
    select * from {{ ref('prep_customer_orders') }}
),

referrals as (
    select * from {{ ref('prep_customer_referrals') }}
),

interactions as (
    select * from {{ ref('prep_customer_interactions') }}
    {%- if recompute_from %}
    where interacted_on >= {{ recompute_from }}
    {%- endif %}
),

rungs as (
    select
        customers.customer_id,
        coalesce(customers.home_store_id, guides.store_id, 'unknown') as store_id,
        connections.connected_on,
        connections.live_friendships > 0 or connections.groups_joined > 0 or connections.member_since is not null
        or customers.has_shop_account as is_connected,
        case when customers.phones > 0 or customers.has_unionid then 1 else 0 end as rung_2,
        case when connections.live_friendships > 0 or connections.groups_joined > 0 then 1 else 0 end as rung_3,
        case
            when (connections.live_friendships > 0 or connections.groups_joined > 0) and not customers.opted_out
                then 1
            else 0
        end as rung_4,
        case when customers.guide_userid is not null and guides.resigned_at is null then 1 else 0 end as rung_5,
        case when coalesce(tags.current_tags, 0) >= {{ var('triangle_insight_min_tags') }} then 1 else 0 end as rung_6
    from customers
    inner join connections on customers.customer_id = connections.customer_id
    left join guides on customers.guide_userid = guides.guide_userid
    left join tags on customers.customer_id = tags.customer_id
),

-- Rung 1, perceivable, holds for every connected customer.
profile as (
    select *, 1 + rung_2 + rung_3 + rung_4 + rung_5 + rung_6 as rungs
    from rungs
),

stores as (
    select customer_id, store_id from profile
    union all
    select customer_id, 'all' from profile
),

-- Daily increments per store; cumulated to each period's end below.
daily as (
    select
        stores.store_id, profile.connected_on as day,
        count(*) as connected_users, sum(profile.rungs) as rungs, sum(profile.rung_2) as rung_2,
        sum(profile.rung_3) as rung_3, sum(profile.rung_4) as rung_4, sum(profile.rung_5) as rung_5,
        sum(profile.rung_6) as rung_6, 0 as buyers, 0 as repeat_buyers, 0 as net_sales, 0 as inviters
    from profile
    inner join stores on profile.customer_id = stores.customer_id
    where profile.is_connected
    group by 1, 2
    union all
    select
        stores.store_id, orders.paid_on, 0, 0, 0, 0, 0, 0, 0,
        sum(case when orders.order_number = 1 then 1 else 0 end),
        sum(case when orders.order_number = 2 then 1 else 0 end),
        sum(orders.net_amount), 0
    from orders
    inner join stores on orders.customer_id = stores.customer_id
    group by 1, 2
    union all
    select stores.store_id, first_referrals.first_referred_on, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count(*)
    from (
        select referrer_id, cast(min(referred_at) as date) as first_referred_on from referrals
        group by 1
    ) as first_referrals
    inner join stores on first_referrals.referrer_id = stores.customer_id
    group by 1, 2
),

{% if recompute_from -%}
-- Everything before the first recomputed day in one opening row per store, the day before it.
daily_from_window as (
    select
        store_id,
        case
            when day < {{ recompute_from }} then cast({{ dbt.dateadd('day', -1, recompute_from) }} as date) else day
        end as day,
        sum(connected_users) as connected_users, sum(rungs) as rungs, sum(rung_2) as rung_2,
        sum(rung_3) as rung_3, sum(rung_4) as rung_4, sum(rung_5) as rung_5, sum(rung_6) as rung_6,
        sum(buyers) as buyers, sum(repeat_buyers) as repeat_buyers, sum(net_sales) as net_sales,
        sum(inviters) as inviters
    from daily
    group by 1, 2
),

{% endif -%}
cumulative as (
    select
        periods.period_grain, periods.period_start, periods.period_end, daily.store_id,
        sum(daily.connected_users) as connected_users,
        sum(daily.rungs) as rungs, sum(daily.rung_2) as rung_2, sum(daily.rung_3) as rung_3,
        sum(daily.rung_4) as rung_4, sum(daily.rung_5) as rung_5, sum(daily.rung_6) as rung_6,
        sum(daily.buyers) as buyers, sum(daily.repeat_buyers) as repeat_buyers,
        sum(daily.net_sales) as net_sales, sum(daily.inviters) as inviters
    from periods
    inner join {{ 'daily_from_window' if recompute_from else 'daily' }} as daily on periods.period_end >= daily.day
    group by 1, 2, 3, 4
),

referred as (
    select
        periods.period_grain, periods.period_start, stores.store_id,
        count(distinct referrals.referred_id) as referred_customers
    from referrals
    inner join stores on referrals.referrer_id = stores.customer_id
    inner join periods on cast(referrals.referred_at as date) between periods.period_start and periods.period_end
    {%- if recompute_from %}
    where cast(referrals.referred_at as date) >= {{ recompute_from }}
    {%- endif %}
    group by 1, 2, 3
),

active as (
    select
        periods.period_grain, periods.period_start, stores.store_id,
        count(distinct interactions.customer_id) as active_customers
    from interactions
    inner join stores on interactions.customer_id = stores.customer_id
    inner join periods on interactions.interacted_on between periods.period_start and periods.period_end
    group by 1, 2, 3
),

measured as (
    select
        cumulative.period_grain,
        cumulative.period_start,
        cumulative.store_id,
        cumulative.connected_users,
        cumulative.connected_users as rung_1_perceivable,
        cumulative.rung_2 as rung_2_identifiable,
        cumulative.rung_3 as rung_3_reachable,
        cumulative.rung_4 as rung_4_marketable,
        cumulative.rung_5 as rung_5_serviceable,
        cumulative.rung_6 as rung_6_insightful,
        {{ siyu.ratio('cumulative.rungs', 'cumulative.connected_users * ' ~ reach_rungs | length) }}
            as reach_capability,
        cumulative.buyers,
        cumulative.repeat_buyers,
        {{ siyu.ratio('cumulative.repeat_buyers', 'cumulative.buyers') }} as repurchase_rate,
        {{ siyu.ratio('cumulative.net_sales', 'cumulative.buyers') }} as ltv_per_customer,
        coalesce(referred.referred_customers, 0) as referred_customers,
        coalesce(active.active_customers, 0) as active_customers,
        {{ siyu.ratio('referred.referred_customers', 'active.active_customers') }} as referrals_per_active,
        cumulative.inviters,
        {{ siyu.ratio('cumulative.inviters', 'cumulative.connected_users') }} as inviter_share
    from cumulative
    left join referred
        on
            cumulative.period_grain = referred.period_grain
            and cumulative.period_start = referred.period_start and cumulative.store_id = referred.store_id
    left join active on
        cumulative.period_grain = active.period_grain
        and cumulative.period_start = active.period_start and cumulative.store_id = active.store_id
),

indexed as (
    select
        *,
        connected_users * reach_capability as ownership_power,
        repurchase_rate * ltv_per_customer as value_index,
        coalesce(referrals_per_active, 0) * coalesce(inviter_share, 0) as referral_index
    from measured
),

scored as (
    select
        *,
        reach_capability / {{ var('triangle_targets')['ownership'] }} as ownership_score,
        coalesce(value_index, 0) / {{ var('triangle_targets')['value'] }} as value_score,
        referral_index / {{ var('triangle_targets')['referral'] }} as referral_score
    from indexed
),

final as (
    select
        *,
        sqrt(
            3.0) / 4 * (
            ownership_score * value_score + value_score * referral_score
            + referral_score * ownership_score
        ) as triangle_area,
        {{ siyu.kpi_unavailable_reason('kpi_triangle') }} as unavailable_reason
    from scored
)

select * from final
