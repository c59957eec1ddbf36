-- Which KPI measures the brand's sources (var sources, from SIYU_SOURCES) can give: one row per KPI table
-- and group of measures, from the requirements in macros/kpi_availability.sql. A KPI table that is empty
-- because its source is absent (kpi_community without WeCom) says why here; every KPI table also carries
-- its own unavailable reasons in its unavailable_reason column.

with

requirements as (
    {% for requirement in siyu.kpi_requirements() %}
        select
            '{{ requirement.kpi_model }}' as kpi_model,
            '{{ requirement.measures }}' as measures,
            '{{ requirement.needs | join(" and " if requirement.get("needs_all") else " or ") }}' as needed_sources,
            {{ 'true' if siyu.kpi_requirement_met(requirement) else 'false' }} as is_available,
            '{{ requirement.reason | replace("'", "''") }}' as reason
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        kpi_model,
        measures,
        needed_sources,
        is_available,
        case when not is_available then reason end as unavailable_reason
    from requirements
)

select * from final
