{#-
    Engine-specific SQL lives only here, behind adapter.dispatch: a second engine (Spark) needs one
    implementation per macro. Defaults are DuckDB's.
-#}

{#- Unix seconds to a China-local timestamp without zone (all siyu timestamps are Asia/Shanghai). -#}
{% macro from_unix_seconds(expression) %}{{ return(adapter.dispatch('from_unix_seconds', 'siyu')(expression)) }}{% endmacro %}
{% macro default__from_unix_seconds(expression) %}make_timestamp((({{ expression }}) + 28800) * 1000000){% endmacro %}
{% macro spark__from_unix_seconds(expression) %}timestamp_seconds(({{ expression }}) + 28800){% endmacro %}

{#- Every match of a regular expression replaced. -#}
{% macro replace_all(expression, pattern, replacement) %}{{ return(adapter.dispatch('replace_all', 'siyu')(expression, pattern, replacement)) }}{% endmacro %}
{% macro default__replace_all(expression, pattern, replacement) %}regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g'){% endmacro %}
{% macro spark__replace_all(expression, pattern, replacement) %}regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}'){% endmacro %}

{#- True when the whole value matches a regular expression. -#}
{% macro full_match(expression, pattern) %}{{ return(adapter.dispatch('full_match', 'siyu')(expression, pattern)) }}{% endmacro %}
{% macro default__full_match(expression, pattern) %}regexp_full_match({{ expression }}, '{{ pattern }}'){% endmacro %}
{% macro spark__full_match(expression, pattern) %}({{ expression }} rlike '^{{ pattern }}$'){% endmacro %}

{#- One row per element of an array column, in a select list. -#}
{% macro explode(expression) %}{{ return(adapter.dispatch('explode', 'siyu')(expression)) }}{% endmacro %}
{% macro default__explode(expression) %}unnest({{ expression }}){% endmacro %}
{% macro spark__explode(expression) %}explode({{ expression }}){% endmacro %}

{#- A one-way hash for personal identifiers in marts (hex SHA-256). -#}
{% macro hash_identifier(expression) %}{{ return(adapter.dispatch('hash_identifier', 'siyu')(expression)) }}{% endmacro %}
{% macro default__hash_identifier(expression) %}sha256({{ expression }}){% endmacro %}
{% macro spark__hash_identifier(expression) %}sha2({{ expression }}, 256){% endmacro %}
