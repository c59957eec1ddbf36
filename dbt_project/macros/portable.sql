{#-
    Engine-specific SQL lives only here, behind adapter.dispatch: a second engine (Spark) needs one
    implementation per macro. Defaults are DuckDB's.
-#}

{#- Unix seconds to a local timestamp without zone in the business time zone (var timezone; siyu's
    timestamps are local to the brand, so a cast to date is its business day), or in `time_zone` for a
    source that counts its days in a zone of its own (WeCom's daily statistics: Beijing days). -#}
{% macro from_unix_seconds(expression, time_zone=none) %}{{ return(adapter.dispatch('from_unix_seconds', 'siyu')(expression, time_zone or var('timezone'))) }}{% endmacro %}
{% macro default__from_unix_seconds(expression, time_zone) %}timezone('{{ time_zone }}', to_timestamp({{ expression }})){% endmacro %}
{#- Spark's timestamp_seconds is an instant; from_utc_timestamp shows it as wall-clock time in the zone (read
    with spark.sql.session.timeZone=UTC). -#}
{% macro spark__from_unix_seconds(expression, time_zone) %}from_utc_timestamp(timestamp_seconds({{ expression }}), '{{ time_zone }}'){% endmacro %}

{#- A local timestamp a source wrote in its own zone (Youzan's API writes Beijing time) as business-local
    time. The same zone compiles to the expression itself. -#}
{% macro from_source_local_time(expression, source_time_zone) %}
    {%- if source_time_zone == var('timezone') -%}{{ expression }}
    {%- else -%}{{ return(adapter.dispatch('from_source_local_time', 'siyu')(expression, source_time_zone, var('timezone'))) }}
    {%- endif -%}
{% endmacro %}
{% macro default__from_source_local_time(expression, source_time_zone, time_zone) %}timezone('{{ time_zone }}', timezone('{{ source_time_zone }}', {{ expression }})){% endmacro %}
{% macro spark__from_source_local_time(expression, source_time_zone, time_zone) %}from_utc_timestamp(to_utc_timestamp({{ expression }}, '{{ source_time_zone }}'), '{{ time_zone }}'){% endmacro %}

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
