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

{#- Incremental KPI marts (issue 22): the first day of the earliest period, at any grain, that overlaps the
    lookback [latest stored day - var segments_revision_max_days, snapshot date], as a date literal (none when
    nothing is stored); a model asks for it only when is_incremental(): a first build or a full refresh
    computes every period. A run recomputes the periods starting on or after it (a month or week that began
    before the lookback included, so it sees its whole span) from the inputs on or after it, and keeps the
    older periods as stored. The latest stored day is asked of the
    table before the model's statement runs, so the statement never reads the table it replaces (Spark's
    insert_overwrite cannot), and the literal lets the engine prune the inputs. -#}
{% macro kpi_recompute_from() %}
    {%- set first_day_sql -%}
        select cast(min({{ siyu.period_start('grains.period_grain', 'latest.window_start') }}) as string)
        from (
            select {{ dbt.dateadd('day', -var('segments_revision_max_days'), 'max(period_start)') }} as window_start
            from {{ this }}
            where period_grain = 'day'
        ) as latest
        cross join ({{ siyu.period_grains() }}) as grains
    {%- endset -%}
    {%- set first_day = run_query(first_day_sql).columns[0].values()[0] -%}
    {{ return(none if first_day is none else "cast('" ~ (first_day | string)[:10] ~ "' as date)") }}
{% endmacro %}

{#- The config of a KPI mart kept by period (issue 22): incremental on (period_grain, period_start), an
    incremental run rewriting the periods it recomputes (macro kpi_recompute_from); delete+insert on DuckDB,
    insert_overwrite of those partitions on Spark. -#}
{% macro kpi_period_config() %}
    {%- set period_key = ['period_grain', 'period_start'] -%}
    {{ config(
        materialized='incremental',
        unique_key=period_key,
        incremental_strategy=siyu.incremental_strategy(),
        partition_by=siyu.partition_by(period_key),
        on_schema_change='fail'
    ) }}
{%- endmacro %}

{#- A model kept by calendar month of a day column (int_friendship_months): the first day of the month that
    holds [latest stored day - var segments_revision_max_days], as a date literal (none when nothing is stored).
    A run recomputes the months starting on or after it, whole, and keeps the older ones as stored; asked of the
    table before the statement runs, as kpi_recompute_from is. -#}
{% macro month_recompute_from(day_column) %}
    {%- set first_day_sql -%}
        select cast({{ dbt.date_trunc('month', dbt.dateadd('day', -var('segments_revision_max_days'), 'max(' ~ day_column ~ ')')) }} as string)
        from {{ this }}
    {%- endset -%}
    {%- set first_day = run_query(first_day_sql).columns[0].values()[0] -%}
    {{ return(none if first_day is none else "cast('" ~ (first_day | string)[:10] ~ "' as date)") }}
{% endmacro %}
