{#-
    Identifier normalisation before matching (domain.md §2). Portable SQL over the macros in portable.sql.
-#}

{#- Mainland mobile numbers to E.164 (+8613812345678). Masked (138****0000), malformed and blocked
    placeholder numbers (var blocked_phones) become null. -#}
{% macro normalize_phone(expression) -%}
    case
        when {{ expression }} is null or {{ expression }} like '%*%' then null
        when {{ siyu.full_match(siyu.replace_all(expression, '[^0-9]', ''), '(86)?1[3-9][0-9]{9}') }}
            and right({{ siyu.replace_all(expression, '[^0-9]', '') }}, 11) not in (
                {%- for phone in var('blocked_phones') %}'{{ phone }}'{{ ", " if not loop.last }}{% endfor -%}
            )
            then '+86' || right({{ siyu.replace_all(expression, '[^0-9]', '') }}, 11)
    end
{%- endmacro %}

{#- Trimmed, lower-cased, empty to null. -#}
{% macro normalize_text_id(expression) -%}
    nullif(lower(trim({{ expression }})), '')
{%- endmacro %}

{#- A person's name as typed in a source, for comparing: lower-cased, spaces (ASCII and the full-width
    U+3000 of Chinese input methods) removed, empty to null. -#}
{% macro normalize_name(expression) -%}
    nullif(lower(replace(replace({{ expression }}, ' ', ''), '　', '')), '')
{%- endmacro %}

{#- The latest snapshot of a daily-snapshot source: rows of its newest partition only. -#}
{% macro latest_partition(relation) -%}
    dt = (select max(dt) from {{ relation }})
{%- endmacro %}
