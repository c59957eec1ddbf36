{#- Schemas are named exactly as configured (staging, intermediate, marts), not prefixed with the target's.
    A prep_ model (a step that reads marts to feed the marts beside it) lives in its consumers' folder but
    is not for analysts: it lands in the intermediate schema with the int_ models, whatever its folder's
    schema (docs/decisions.md "Layers: prep_ models"). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if node is not none and node.resource_type == 'model' and node.name.startswith('prep_') -%}
        intermediate
    {%- else -%}
        {{ custom_schema_name if custom_schema_name else target.schema }}
    {%- endif -%}
{%- endmacro %}
