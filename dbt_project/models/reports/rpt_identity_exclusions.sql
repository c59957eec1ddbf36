-- One row per identifier type and kind of exclusion: how many values merge protection left out of matching
-- and the worst of them (the most strong identifiers linked, or receipts typed on). `siyu identity-report`.

with

excluded as (
    select * from {{ ref('identity_excluded_values') }}
),

classified as (
    select
        id_type,
        case
            when reason like 'links%' then 'link too many strong identifiers'
            else 'typed on too many receipts'
        end as exclusion_kind,
        greatest(strong_identifiers_linked, receipts) as extent
    from excluded
),

final as (
    select
        id_type,
        exclusion_kind,
        count(*) as values_excluded,
        max(extent) as worst
    from classified
    group by id_type, exclusion_kind
)

select * from final
