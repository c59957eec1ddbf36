-- The world's truth (macro truth_dir), when the data is generated: which person each identifier value
-- belongs to, normalised as the pipeline normalises. Empty in production, where there is no truth.
-- One row per (id_type, id_value, person_id).

{% set truth_dir = siyu.truth_dir() %}

with

{% if truth_dir %}
source as (
    select * from {{ siyu.read_parquet(truth_dir ~ '/identifiers.parquet') }}
),

normalised as (
    select
        id_type,
        case
            when id_type = 'phone' then {{ siyu.normalize_phone('id_value') }}
            when id_type = 'unionid' then {{ siyu.normalize_text_id('id_value') }}
            else id_value
        end as id_value,
        person_id
    from source
),
{% else %}
    normalised as (
        select
            cast(null as {{ dbt.type_string() }}) as id_type,
            cast(null as {{ dbt.type_string() }}) as id_value,
            cast(null as bigint) as person_id
        where 1 = 0
    ),
{% endif %}

final as (
    select distinct id_type, id_value, id_type || ':' || id_value as node_key, person_id
    from normalised
    where id_value is not null
)

select * from final
