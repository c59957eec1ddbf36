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

{#- The relation a data test reads, with its `where` config (dbt's own get_where_subquery, overridden). In a
    `where`, the placeholder __revisable_from__ stands for the first day a daily run may have written in a
    table keyed by snapshot_date: var segments_revision_max_days before its latest day. So the daily run's
    tests of customer_segments_daily read the days it could have written, not every day kept (issue 22); a
    full refresh (`siyu build`) tests every day. -#}
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
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
