{#- The body of every published audience table aud_<name>: that audience's rows of audience_assignments,
    in the columns activation tools read. The audience is the model's name without the aud_ prefix, so an
    audience is named once in SQL (its rule in prep_audience_candidates) and once as a file. -#}
{% macro audience_table() %}
    {%- set audience = this.identifier | replace('aud_', '', 1) -%}
select
    customer_id, audience, reason, channel, guide_userid, external_userid, chat_id, priority, computed_on, computed_at
from {{ ref('audience_assignments') }}
where audience = '{{ audience }}'
{%- endmacro %}

{#- When this dbt run started, as a local timestamp in the business time zone (var timezone): dbt's
    run_started_at is UTC, and siyu's timestamps are local to the brand. -#}
{% macro run_started_local() -%}
    {%- set local = run_started_at.astimezone(modules.pytz.timezone(var('timezone'))) -%}
    cast('{{ local.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
{%- endmacro %}
