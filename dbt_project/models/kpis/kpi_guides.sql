{{ siyu.kpi_period_config() }}
-- Shopping-guide rates (seed 002 导购三率) by store and period, and 'all' stores:
--   login_rate  guides active in the period (sent a WeCom message: session archive) / guides
--   share_rate  guides whose share link brought a shop visit or an order in the period / guides
--   order_rate  guides with a paid order attributed to them (online share or till sale) / guides
-- plus customers per guide (live friendships added by the period's end / guides) and inherited
-- customers (friendships taken over from a guide who left, add_way 202, in the period; seed 004 §120).
-- A guide counts from the first period and until they resigned.
-- Incremental (issue 22): a run recomputes the periods that overlap the lookback (macro kpi_recompute_from)
-- from the inputs of those periods and keeps the older ones as stored.

{%- set recompute_from = siyu.kpi_recompute_from() if is_incremental() else none %}

with

guides as (
    select * from {{ ref('int_guides') }}
),

periods as (
    select * from {{ ref('prep_kpi_days') }}
    {%- if recompute_from %}
    where period_start >= {{ recompute_from }}
    {%- endif %}
),

messages as (
    select * from {{ ref('stg_wecom__messages') }}
    {%- if recompute_from %}
    where cast(sent_at as date) >= {{ recompute_from }}
    {%- endif %}
),

visits as (
    select * from {{ ref('stg_shop__visits') }}
    {%- if recompute_from %}
    where cast(visited_at as date) >= {{ recompute_from }}
    {%- endif %}
),

purchases as (
    select * from {{ ref('prep_kpi_purchases') }}
    where channel = 'all'{% if recompute_from %} and period_start >= {{ recompute_from }}{% endif %}
),

relations as (
    select * from {{ ref('stg_wecom__follow_relations') }}
),

-- Friendships by guide, day added and add way. An incremental run holds those added before the first
-- recomputed day in one row per guide, the day before it: customers of every recomputed period, inherited
-- in none.
{%- set added_on = 'cast(added_at as date)' %}
{%- if recompute_from %}
    {%- set day_before = 'cast(' ~ dbt.dateadd('day', -1, recompute_from) ~ ' as date)' %}
    {%- set added_on = 'case when ' ~ added_on ~ ' < ' ~ recompute_from ~ ' then ' ~ day_before ~ ' else ' ~ added_on ~ ' end' %}
{%- endif %}
relation_days as (
    select
        guide_userid,
        {{ added_on }} as added_on,
        add_way = 202 and {{ added_on }} = cast(added_at as date) as is_inherited,
        count(*) as relations
    from relations
    group by 1, 2, 3
),

guide_periods as (
    select periods.*, guides.guide_userid, guides.store_id
    from periods
    cross join guides
    where guides.resigned_at is null or cast(guides.resigned_at as date) >= periods.period_start
),

active as (
    select distinct guide_periods.period_grain, guide_periods.period_start, guide_periods.guide_userid
    from messages
    inner join guide_periods on
        messages.sender_id = guide_periods.guide_userid
        and cast(messages.sent_at as date) between guide_periods.period_start and guide_periods.period_end
),

shared as (
    select distinct guide_periods.period_grain, guide_periods.period_start, guide_periods.guide_userid
    from visits
    inner join guide_periods
        on
            visits.visit_source = 'guide_share' and visits.source_ref = guide_periods.guide_userid
            and cast(visits.visited_at as date) between guide_periods.period_start and guide_periods.period_end
    union
    select distinct period_grain, period_start, guide_userid
    from purchases
    where source_channel = 'guide_share' and guide_userid is not null
),

ordered as (
    select distinct period_grain, period_start, guide_userid
    from purchases
    where guide_userid is not null
),

friendships as (
    select
        guide_periods.period_grain, guide_periods.period_start, guide_periods.guide_userid,
        cast(sum(relation_days.relations) as bigint) as customers,
        sum(case
            when relation_days.is_inherited and relation_days.added_on >= guide_periods.period_start
                then relation_days.relations
            else 0
        end) as inherited_customers
    from relation_days
    inner join guide_periods
        on
            relation_days.guide_userid = guide_periods.guide_userid
            and relation_days.added_on <= guide_periods.period_end
    group by 1, 2, 3
),

per_guide as (
    select
        guide_periods.period_grain,
        guide_periods.period_start,
        guide_periods.store_id,
        guide_periods.guide_userid,
        active.guide_userid is not null as was_active,
        shared.guide_userid is not null as shared_link,
        ordered.guide_userid is not null as had_order,
        coalesce(friendships.customers, 0) as customers,
        coalesce(friendships.inherited_customers, 0) as inherited_customers
    from guide_periods
    left join active
        on
            guide_periods.period_grain = active.period_grain
            and guide_periods.period_start = active.period_start and guide_periods.guide_userid = active.guide_userid
    left join shared
        on
            guide_periods.period_grain = shared.period_grain
            and guide_periods.period_start = shared.period_start and guide_periods.guide_userid = shared.guide_userid
    left join ordered
        on
            guide_periods.period_grain = ordered.period_grain
            and guide_periods.period_start = ordered.period_start and guide_periods.guide_userid = ordered.guide_userid
    left join friendships on
        guide_periods.period_grain = friendships.period_grain
        and guide_periods.period_start = friendships.period_start
        and guide_periods.guide_userid = friendships.guide_userid
),

by_store as (
    select
        period_grain, period_start, coalesce(store_id, 'unknown') as store_id, guide_userid, was_active,
        shared_link, had_order, customers, inherited_customers
    from per_guide
    union all
    select
        period_grain, period_start, 'all', guide_userid, was_active, shared_link, had_order, customers,
        inherited_customers
    from per_guide
),

final as (
    select
        period_grain,
        period_start,
        store_id,
        count(*) as guides,
        sum(case when was_active then 1 else 0 end) as active_guides,
        sum(case when shared_link then 1 else 0 end) as sharing_guides,
        sum(case when had_order then 1 else 0 end) as ordering_guides,
        {{ siyu.ratio('sum(case when was_active then 1 else 0 end)', 'count(*)') }} as login_rate,
        {{ siyu.ratio('sum(case when shared_link then 1 else 0 end)', 'count(*)') }} as share_rate,
        {{ siyu.ratio('sum(case when had_order then 1 else 0 end)', 'count(*)') }} as order_rate,
        sum(customers) as customers,
        {{ siyu.ratio('sum(customers)', 'count(*)') }} as customers_per_guide,
        sum(inherited_customers) as inherited_customers,
        {{ siyu.kpi_unavailable_reason('kpi_guides') }} as unavailable_reason
    from by_store
    group by period_grain, period_start, store_id
)

select * from final
