-- Every day from the first day anything happened to the last, with its period at each grain: the spine
-- KPI marts report on, so a period without orders still has its row.

with

bounds as (
    select min(paid_at) as first_at, max(paid_at) as last_at from {{ ref('fct_orders') }}
    union all
    select min(sent_at), max(sent_at) from {{ ref('stg_wecom__messages') }}
    union all
    select min(added_at), max(added_at) from {{ ref('stg_wecom__follow_relations') }}
),

span as (
    select cast(min(first_at) as date) as first_day, cast(max(last_at) as date) as last_day from bounds
),

numbers as (
    {{ siyu.day_offsets() }}
),

days as (
    select cast({{ dbt.dateadd('day', 'numbers.day_offset', 'span.first_day') }} as date) as day
    from numbers
    cross join span
    where {{ dbt.dateadd('day', 'numbers.day_offset', 'span.first_day') }} <= span.last_day
),

grains as (
    {{ siyu.period_grains() }}
),

final as (
    select distinct
        grains.period_grain,
        {{ siyu.period_start('grains.period_grain', 'days.day') }} as period_start,
        {{ siyu.period_end('grains.period_grain', siyu.period_start('grains.period_grain', 'days.day')) }}
            as period_end
    from days
    cross join grains
)

select * from final
