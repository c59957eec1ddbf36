{#- The day segments are computed as of: var snapshot_date, else env SIYU_SNAPSHOT_DATE (how siyu's builds
    pass it: a var that changes every day would make dbt parse the whole project again), else the day of the
    latest paid order. -#}
{% macro snapshot_date() -%}
    {%- set day = var('snapshot_date') or env_var('SIYU_SNAPSHOT_DATE', '') -%}
    {%- if day -%}
        cast('{{ day }}' as date)
    {%- else -%}
        (select max(paid_on) from {{ ref('prep_customer_orders') }})
    {%- endif -%}
{%- endmacro %}

{#- Score 1-5 by position among the rows of one snapshot: ties share the score of their lowest position,
    so equal values always get equal scores (docs/decisions.md "Segments"). -#}
{% macro quintile_score(expression, partition_by, descending=false) -%}
    cast(floor(5.0 * (rank() over (partition by {{ partition_by }} order by {{ expression }}
        {{- ' desc' if descending }}) - 1) / count(*) over (partition by {{ partition_by }})) as integer) + 1
{%- endmacro %}

{#- var order_milestones, checked: two order counts, ascending, the first at least 2 (seed 000 首单 → 3单 → 5单:
    the third order, where buying again becomes likely, then the fifth, where the habit forms). The
    order_push audiences push to the first and to the second; the buckets follow them. -#}
{% macro order_milestones() -%}
    {%- set milestones = var('order_milestones') -%}
    {%- if milestones is string or milestones is not iterable or milestones | length != 2
        or not (milestones[0] is integer and milestones[1] is integer)
        or milestones[0] < 2 or milestones[1] <= milestones[0] -%}
        {%- do exceptions.raise_compiler_error(
            "var order_milestones must be two order counts, ascending, the first at least 2 (default [3, 5]), not "
            ~ milestones
        ) -%}
    {%- endif -%}
    {{- return(milestones) -}}
{%- endmacro %}

{#- The order-milestone buckets from var order_milestones (seed 000 首单-3单-5单; default [3, 5]): each count
    below the first milestone is its own bucket ('0', '1', '2'), then one bucket from each milestone to the
    next ('3-4') and the last open-ended ('5+'). Returns [(lowest count, label)], highest first. -#}
{% macro order_milestone_buckets() -%}
    {%- set milestones = siyu.order_milestones() -%}
    {%- set buckets = [] -%}
    {%- for milestone in milestones -%}
        {%- if loop.last -%}
            {%- do buckets.append((milestone, milestone ~ '+')) -%}
        {%- elif milestones[loop.index] - 1 == milestone -%}
            {%- do buckets.append((milestone, milestone | string)) -%}
        {%- else -%}
            {%- do buckets.append((milestone, milestone ~ '-' ~ (milestones[loop.index] - 1))) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for count in range(milestones[0]) -%}
        {%- do buckets.append((count, count | string)) -%}
    {%- endfor -%}
    {{- return(buckets | sort(reverse=true)) -}}
{%- endmacro %}

{#- A lifetime order count as its milestone bucket (order_milestone_buckets). -#}
{% macro order_milestone(orders) -%}
    case
        {%- for lowest, label in siyu.order_milestone_buckets() %}
            when {{ orders }} >= {{ lowest }} then '{{ label }}'
        {%- endfor %}
    end
{%- endmacro %}
