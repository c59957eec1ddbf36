{#- The zone a source writes its times in (var source_timezones, from siyu.config.SOURCE_TIMEZONES): a fact
    of the source's API, not the brand's setting. Youzan ('shop') writes Beijing time; WeCom ('wecom') stamps
    its daily statistics at Beijing midnight. -#}
{% macro source_time_zone(source_name) -%}
    {%- set zones = var('source_timezones') -%}
    {%- if source_name not in zones -%}
        {{ exceptions.raise_compiler_error("var source_timezones names no zone for source " ~ source_name) }}
    {%- endif -%}
    {{ return(zones[source_name]) }}
{%- endmacro %}
