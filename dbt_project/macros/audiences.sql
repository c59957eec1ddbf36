{#- The body of every published audience table aud_<name>: that audience's rows of audience_assignments,
    in the columns activation tools read. The audience is the model's name without the aud_ prefix, so an
    audience is named once in SQL (its rule in int_audience_candidates) and once as a file. -#}
{% macro audience_table() %}
    {%- set audience = this.identifier | replace('aud_', '', 1) -%}
select
    customer_id, audience, reason, channel, guide_userid, external_userid, chat_id, priority, computed_on, computed_at
from {{ ref('audience_assignments') }}
where audience = '{{ audience }}'
{%- endmacro %}
