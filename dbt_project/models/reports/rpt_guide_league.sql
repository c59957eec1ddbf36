-- One row per guide and month with any activity: paid orders the guide is credited with, their gross amount
-- and buyers (fct_orders), friends added and friends inherited from a guide who left (WeCom follow
-- relations), and the guide's store. The report's guide league table.

with

orders as (
    select * from {{ ref('fct_orders') }}
),

relations as (
    select * from {{ ref('stg_wecom__follow_relations') }}
),

guide_stores as (
    select * from {{ ref('rpt_guide_stores') }}
),

sales as (
    select
        guide_userid,
        cast({{ dbt.date_trunc('month', 'paid_at') }} as date) as month_start,
        count(order_id) as orders,
        sum(gross_amount) as gmv,
        count(distinct customer_id) as buyers
    from orders
    where is_paid and guide_userid is not null and paid_at is not null
    group by guide_userid, cast({{ dbt.date_trunc('month', 'paid_at') }} as date)
),

friends as (
    select
        guide_userid,
        cast({{ dbt.date_trunc('month', 'added_at') }} as date) as month_start,
        count(external_userid) as friends_added,
        -- add_way 202: WeCom's code for a customer taken over from a guide who left (客户继承)
        sum(case when add_way = 202 then 1 else 0 end) as inherited
    from relations
    where guide_userid is not null and added_at is not null
    group by guide_userid, cast({{ dbt.date_trunc('month', 'added_at') }} as date)
),

activity as (
    select
        coalesce(sales.guide_userid, friends.guide_userid) as guide_userid,
        coalesce(sales.month_start, friends.month_start) as month_start,
        -- A brand without WeCom has no friendship data: unknown, not zero.
        {% if 'wecom' in var('sources') -%}
            cast(coalesce(friends.friends_added, 0) as bigint) as friends_added,
            cast(coalesce(friends.inherited, 0) as bigint) as inherited,
        {%- else -%}
            cast(null as bigint) as friends_added,
            cast(null as bigint) as inherited,
        {%- endif %}
        coalesce(sales.buyers, 0) as buyers,
        coalesce(sales.orders, 0) as orders,
        coalesce(sales.gmv, 0) as gmv
    from sales
    full outer join friends
        on sales.guide_userid = friends.guide_userid and sales.month_start = friends.month_start
),

final as (
    select
        activity.month_start,
        activity.guide_userid,
        coalesce(guide_stores.store_id, 'unknown') as store_id,
        activity.friends_added,
        activity.inherited,
        activity.buyers,
        activity.orders,
        activity.gmv
    from activity
    left join guide_stores on activity.guide_userid = guide_stores.guide_userid
)

select * from final
