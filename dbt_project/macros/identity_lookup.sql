{#-
    The one way a model outside the identity chain finds the customer of an identifier: join the
    current-identity lookup `int_customer_nodes` (imported as a CTE, `nodes` names it) on this condition.

        inner join customer_nodes
            on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'relations.external_userid') }}

    The lookup holds only identifiers the latest build still observes (history rows of the identity map
    are not in it). Matching is on (id_type, id_value), so no model builds '<type>:<value>' keys itself.
-#}
{% macro customer_node_is(nodes, id_type, column) -%}
    {{ nodes }}.id_type = '{{ id_type }}' and {{ nodes }}.id_value = {{ column }}
{%- endmacro %}
