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
