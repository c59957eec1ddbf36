{#- Files siyu.privacy keeps beside the lake (SIYU_PRIVACY_DIR, default <lake>/../privacy): the suppression
    list and the consent events, keyed pseudonyms only (docs/privacy.md). -#}
{% macro privacy_file(name) -%}
    {{ siyu.privacy_dir() }}/{{ name }}
{%- endmacro %}

{#- A privacy file as a relation; before the first erasure (or consent event) there is none, and the relation
    is empty with the file's columns (`columns`: name → type). -#}
{% macro privacy_relation(name, columns) %}
    {%- set path = siyu.privacy_file(name) -%}
    {%- if execute and siyu.file_exists(path) -%}
        (select {{ columns.keys() | join(', ') }} from {{ siyu.read_parquet(path) }})
    {%- else -%}
        (select {% for column, type in columns.items() %}cast(null as {{ type }}) as {{ column }}{{ ", " if not loop.last }}{% endfor %} where 1 = 0)
    {%- endif -%}
{% endmacro %}
