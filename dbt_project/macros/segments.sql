{#- The day segments are computed as of: var snapshot_date, else the day of the latest paid order. -#}
{% macro snapshot_date() -%}
    {%- if var('snapshot_date') -%}
        cast('{{ var("snapshot_date") }}' as date)
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
