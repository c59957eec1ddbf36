{{ siyu.kpi_period_config() }}
-- Communities summarised by owner (the guide who owns the groups) with the owner's store, and per store
-- ('all' owners), per period: groups, members, speakers, GMV, and how many groups hold each grade.
-- Incremental (issue 22): a run recomputes the periods that overlap the lookback (macro kpi_recompute_from)
-- from the inputs of those periods and keeps the older ones as stored.
{%- set recompute_from = siyu.kpi_recompute_from() if is_incremental() else none %}

with

community as (
    select * from {{ ref('kpi_community') }}
    {%- if recompute_from %}
    where period_start >= {{ recompute_from }}
    {%- endif %}
),

guides as (
    select * from {{ ref('int_guides') }}
),

owned as (
    select community.*, coalesce(guides.store_id, 'unknown') as store_id
    from community
    left join guides on community.owner_userid = guides.guide_userid
),

levels as (
    select period_grain, period_start, store_id, owner_userid, chat_id, members, speakers, gmv, grade
    from owned
    union all
    select period_grain, period_start, store_id, 'all', chat_id, members, speakers, gmv, grade
    from owned
),

final as (
    select
        period_grain,
        period_start,
        store_id,
        owner_userid,
        count(*) as groups,
        sum(members) as members,
        sum(speakers) as speakers,
        {{ siyu.ratio('sum(speakers)', 'sum(members)') }} as activity_rate,
        sum(gmv) as gmv,
        {%- for level in var('community_grades') %}
            sum(case when grade = '{{ level.grade }}' then 1 else 0 end) as groups_{{ level.grade | lower }},
        {%- endfor %}
        sum(case when grade = 'ungraded' then 1 else 0 end) as groups_ungraded,
        {{ siyu.kpi_unavailable_reason('kpi_community_summary') }} as unavailable_reason
    from levels
    group by period_grain, period_start, store_id, owner_userid
)

select * from final
