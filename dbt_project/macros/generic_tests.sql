{#- The two generic tests we need from dbt_utils, which cannot be installed here (no dbt hub access). -#}

{% test unique_combination_of_columns(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test expression_is_true(model, expression) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}

{#- The column holds only the labels of order_milestone_buckets (var order_milestones). -#}
{% test is_order_milestone(model, column_name) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} is null or {{ column_name }} not in (
    {%- for _, label in siyu.order_milestone_buckets() %}'{{ label }}'{{ ', ' if not loop.last }}{% endfor -%}
)
{% endtest %}

{#- The relation a data test reads, with its `where` config (dbt's own get_where_subquery, overridden).
    Placeholders in a `where`, for the days a daily run may have written or revised (issue 22: the daily run
    tests those, not every day kept; a full refresh, `siyu build`, tests every day):
      __revisable_from__  in a table keyed by snapshot_date (customer_segments_daily): var
                          segments_revision_max_days before its latest day;
      __landed_from__     in a view of the lake's daily snapshots: segments_revision_max_days before the day
                          built (var snapshot_date or SIYU_SNAPSHOT_DATE, which the daily run sets), a literal
                          the engine uses to skip older partitions (the latest day of such a view would cost
                          a read of every partition); every day when no day is given. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__revisable_from__' in where -%}
        {%- if flags.FULL_REFRESH -%}
            {%- set since = "cast('1900-01-01' as date)" -%}
        {%- else -%}
            {%- set since -%}
                (select {{ dbt.dateadd('day', -var('segments_revision_max_days'), 'max(snapshot_date)') }}
                from {{ relation }})
            {%- endset -%}
        {%- endif -%}
        {%- set where = where | replace('__revisable_from__', since) -%}
    {%- endif -%}
    {%- if where and '__landed_from__' in where -%}
        {%- set day_built = var('snapshot_date') or env_var('SIYU_SNAPSHOT_DATE', '') -%}
        {%- if flags.FULL_REFRESH or not day_built -%}
            {%- set since = "cast('1900-01-01' as date)" -%}
        {%- else -%}
            {%- set since = "cast(" ~ dbt.dateadd('day', -var('segments_revision_max_days'), "cast('" ~ day_built ~ "' as date)") ~ " as date)" -%}
        {%- endif -%}
        {%- set where = where | replace('__landed_from__', since) -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
