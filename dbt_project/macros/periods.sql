{#- KPI periods (domain.md §4): every KPI is reported at a day, week (Monday) and month grain. -#}

{#- The three grains, as rows to cross join. -#}
{% macro period_grains() -%}
    select 'day' as period_grain
    union all
    select 'week'
    union all
    select 'month'
{%- endmacro %}

{#- The first day of the period of `grain` (a column holding 'day', 'week' or 'month') that holds `day`. -#}
{% macro period_start(grain, day) -%}
    cast(case {{ grain }}
        when 'day' then cast({{ day }} as date)
        when 'week' then {{ dbt.date_trunc('week', day) }}
        else {{ dbt.date_trunc('month', day) }}
    end as date)
{%- endmacro %}

{#- The last day of the period starting on `start`. -#}
{% macro period_end(grain, start) -%}
    cast(case {{ grain }}
        when 'day' then cast({{ start }} as date)
        when 'week' then {{ dbt.dateadd('day', 6, start) }}
        else {{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, start)) }}
    end as date)
{%- endmacro %}

{#- a / b, null when b is 0 or null. -#}
{% macro ratio(numerator, denominator) -%}
    cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#- Day offsets 0..var day_spine_max_days - 1, one row each (column day_offset): the spine a model adds to
    its first day. generate_series needs its bound when the SQL is written, hence a var. -#}
{% macro day_offsets() -%}
    select generated_number - 1 as day_offset from ({{ dbt.generate_series(var('day_spine_max_days')) }}) as series
{%- endmacro %}
