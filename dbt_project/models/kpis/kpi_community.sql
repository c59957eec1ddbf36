{{ siyu.kpi_period_config() }}
-- Community (社群) KPIs per group and period (seed 004 §134-156):
--   members                 external members (customers) joined by the period's end
--   speakers                members who sent a message in the period;  activity_rate = speakers / members
--   messages, active_days   all messages in the group, days with at least one
--   visitors                shop visitors who came from the group (visit source group, ref = chat_id)
--   paying_visitors         of them, those who paid for an order from the group in the period
--   visitor_pay_conversion  paying_visitors / visitors
--   buyers, orders, gmv     paid orders attributed to the group;  aov = gmv / orders
--   repurchase_rate         buyers with 2+ orders from the group by the period's end / buyers
--   fission_rate            members invited by members (fission poster) in the period / members at its start
--   community_gmv_factors   members × visitor_pay_conversion × (1 + repurchase_rate) × (1 + fission_rate):
--                           the factors of community GMV (§150) multiplied, to rank groups; gmv is beside it
--   grade                   S/A/B/C/D by var community_grades, else ungraded (null rates: ungraded).
--                           With visit tracking (the shop's export in the store drops: sources shop and
--                           store), the first grade whose activity and conversion thresholds both hold.
--                           Without it, conversion cannot be measured: the first grade whose activity
--                           threshold holds, visitor_pay_conversion null (issue 16)
--   grade_basis             activity_and_conversion, or activity_only without visit tracking
--   purchase_depth          the purchase depth most of the group's members are at (§151): never_bought,
--                           first_purchase, repeat, vip (top RFM monetary score), distributor (KOC)
-- Incremental (issue 22): a run recomputes the periods that overlap the lookback (macro kpi_recompute_from)
-- from the inputs of those periods and keeps the older ones as stored. Members joined before the first
-- recomputed day are one row per group, the day before it; a buyer's second order is found in all history.

{% set visit_tracking = 'shop' in var('sources') and 'store' in var('sources') %}
{%- set recompute_from = siyu.kpi_recompute_from() if is_incremental() else none %}

with

groups as (
    select * from {{ ref('stg_wecom__groups') }}
),

members as (
    select * from {{ ref('stg_wecom__group_members') }}
    where member_type = 2
),

periods as (
    select * from {{ ref('prep_kpi_days') }}
    {%- if recompute_from %}
    where period_start >= {{ recompute_from }}
    {%- endif %}
),

messages as (
    select * from {{ ref('stg_wecom__messages') }}
    where chat_id is not null{% if recompute_from %} and cast(sent_at as date) >= {{ recompute_from }}{% endif %}
),

visits as (
    select * from {{ ref('stg_shop__visits') }}
    where visit_source = 'group'{% if recompute_from %} and cast(visited_at as date) >= {{ recompute_from }}{% endif %}
),

all_purchases as (
    select * from {{ ref('prep_kpi_purchases') }}
    where channel = 'all' and chat_id is not null
),

purchases as (
    select * from all_purchases
    {%- if recompute_from %}
    where period_start >= {{ recompute_from }}
    {%- endif %}
),

shop_orders as (
    select order_id, yz_open_id from {{ ref('stg_shop__orders') }}
),

member_depth as (
    select * from {{ ref('prep_group_member_depth') }}
),

group_periods as (
    select periods.*, groups.chat_id, groups.owner_userid
    from periods
    inner join groups on cast(groups.created_at as date) <= periods.period_end
),

-- Members by group, day joined and whether a fission poster brought them. An incremental run holds those
-- joined before the first recomputed day in one row per group, the day before it: members at the start of
-- every recomputed period, fission joins of none.
{%- set joined_on = 'cast(joined_at as date)' %}
{%- if recompute_from %}
    {%- set day_before = 'cast(' ~ dbt.dateadd('day', -1, recompute_from) ~ ' as date)' %}
    {%- set joined_on = 'case when ' ~ joined_on ~ ' < ' ~ recompute_from ~ ' then ' ~ day_before ~ ' else ' ~ joined_on ~ ' end' %}
{%- endif %}
member_days as (
    select
        chat_id,
        {{ joined_on }} as joined_on,
        substr(join_state, 1, 3) = 'fx_' and {{ joined_on }} = cast(joined_at as date) as is_fission,
        count(*) as members
    from members
    group by 1, 2, 3
),

membership as (
    select
        group_periods.period_grain, group_periods.period_start, group_periods.chat_id,
        cast(sum(member_days.members) as bigint) as members,
        sum(case when member_days.joined_on < group_periods.period_start then member_days.members else 0 end)
            as members_at_start,
        sum(case
            when member_days.is_fission and member_days.joined_on >= group_periods.period_start
                then member_days.members
            else 0
        end) as fission_joins
    from group_periods
    inner join member_days
        on
            group_periods.chat_id = member_days.chat_id
            and group_periods.period_end >= member_days.joined_on
    group by 1, 2, 3
),

-- Staff: guides and the groups' internal members. Everyone else who sends is a member speaking, whether
-- or not they are still in the group.
staff as (
    select guide_userid as userid from {{ ref('int_guides') }}
    union
    select member_id from {{ ref('stg_wecom__group_members') }}
    where member_type = 1
),

talk as (
    select
        group_periods.period_grain, group_periods.period_start, group_periods.chat_id,
        count(*) as messages,
        count(distinct cast(messages.sent_at as date)) as active_days,
        count(distinct case when staff.userid is null then messages.sender_id end) as speakers
    from group_periods
    inner join messages
        on
            group_periods.chat_id = messages.chat_id
            and cast(messages.sent_at as date) between group_periods.period_start and group_periods.period_end
    left join staff on messages.sender_id = staff.userid
    group by 1, 2, 3
),

group_purchases as (
    select purchases.*, shop_orders.yz_open_id
    from purchases
    left join shop_orders on purchases.order_id = shop_orders.order_id
),

sales as (
    select
        period_grain, period_start, chat_id,
        count(*) as orders,
        count(distinct buyer_key) as buyers,
        sum(gross_amount) as gmv
    from group_purchases
    group by 1, 2, 3
),

repeaters as (
    select
        group_periods.period_grain, group_periods.period_start, group_periods.chat_id,
        count(distinct second_orders.buyer_key) as repeat_buyers
    from group_periods
    inner join (
        select
            chat_id, buyer_key, paid_at,
            row_number() over (partition by chat_id, buyer_key order by paid_at, order_id) as order_number
        from all_purchases
        where period_grain = 'day'
    ) as second_orders
        on
            group_periods.chat_id = second_orders.chat_id
            and second_orders.order_number = 2
            and cast(second_orders.paid_at as date) <= group_periods.period_end
    inner join group_purchases as in_period
        on
            group_periods.period_grain = in_period.period_grain
            and group_periods.period_start = in_period.period_start
            and group_periods.chat_id = in_period.chat_id
            and second_orders.buyer_key = in_period.buyer_key
    group by 1, 2, 3
),

traffic as (
    select
        group_periods.period_grain, group_periods.period_start, group_periods.chat_id,
        count(distinct visits.visitor_id) as visitors,
        count(distinct group_purchases.yz_open_id) as paying_visitors
    from group_periods
    inner join visits
        on
            group_periods.chat_id = visits.source_ref
            and cast(visits.visited_at as date) between group_periods.period_start and group_periods.period_end
    left join group_purchases
        on
            group_periods.period_grain = group_purchases.period_grain
            and group_periods.period_start = group_purchases.period_start
            and group_periods.chat_id = group_purchases.chat_id
            and visits.visitor_id = group_purchases.yz_open_id
    group by 1, 2, 3
),

depth as (
    select chat_id, purchase_depth
    from (
        select
            chat_id, purchase_depth,
            row_number() over (partition by chat_id order by count(*) desc, purchase_depth) as depth_rank
        from member_depth
        group by chat_id, purchase_depth
    ) as ranked
    where depth_rank = 1
),

measured as (
    select
        group_periods.period_grain,
        group_periods.period_start,
        group_periods.chat_id,
        group_periods.owner_userid,
        coalesce(membership.members, 0) as members,
        coalesce(talk.speakers, 0) as speakers,
        {{ siyu.ratio('talk.speakers', 'membership.members') }} as activity_rate,
        coalesce(talk.messages, 0) as messages,
        coalesce(talk.active_days, 0) as active_days,
        coalesce(traffic.visitors, 0) as visitors,
        coalesce(traffic.paying_visitors, 0) as paying_visitors,
        {% if visit_tracking -%}
            {{ siyu.ratio('traffic.paying_visitors', 'traffic.visitors') }}
        {%- else -%}
            cast(null as double)
        {%- endif %} as visitor_pay_conversion,
        coalesce(sales.buyers, 0) as buyers,
        coalesce(sales.orders, 0) as orders,
        {{ siyu.ratio('sales.gmv', 'sales.orders') }} as aov,
        {{ siyu.ratio('coalesce(repeaters.repeat_buyers, 0)', 'sales.buyers') }} as repurchase_rate,
        coalesce(sales.gmv, 0) as gmv,
        coalesce(membership.fission_joins, 0) as fission_joins,
        {{ siyu.ratio('membership.fission_joins', 'membership.members_at_start') }} as fission_rate,
        depth.purchase_depth
    from group_periods
    left join membership
        on
            group_periods.period_grain = membership.period_grain
            and group_periods.period_start = membership.period_start and group_periods.chat_id = membership.chat_id
    left join talk
        on
            group_periods.period_grain = talk.period_grain
            and group_periods.period_start = talk.period_start and group_periods.chat_id = talk.chat_id
    left join traffic
        on
            group_periods.period_grain = traffic.period_grain
            and group_periods.period_start = traffic.period_start and group_periods.chat_id = traffic.chat_id
    left join sales
        on
            group_periods.period_grain = sales.period_grain
            and group_periods.period_start = sales.period_start and group_periods.chat_id = sales.chat_id
    left join repeaters
        on
            group_periods.period_grain = repeaters.period_grain
            and group_periods.period_start = repeaters.period_start and group_periods.chat_id = repeaters.chat_id
    left join depth on group_periods.chat_id = depth.chat_id
),

final as (
    select
        *,
        members * coalesce(visitor_pay_conversion, 0) * (1 + coalesce(repurchase_rate, 0))
        * (1 + coalesce(fission_rate, 0)) as community_gmv_factors,
        case
            {%- for level in var('community_grades') %}
                {%- set converts = 'visitor_pay_conversion >= ' ~ level.conversion if visit_tracking else 'true' %}
                when activity_rate >= {{ level.activity }} and {{ converts }} then '{{ level.grade }}'
            {%- endfor %}
            else 'ungraded'
        end as grade,
        '{{ "activity_and_conversion" if visit_tracking else "activity_only" }}' as grade_basis,
        {{ siyu.kpi_unavailable_reason('kpi_community') }} as unavailable_reason
    from measured
)

select * from final
