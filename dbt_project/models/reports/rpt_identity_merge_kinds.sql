-- One row per kind of customer id change (the part of customer_merges.reason before the colon) with how
-- many changes of that kind the identity map has made so far. `siyu identity-report`.

with

customer_merges as (
    select * from {{ ref('customer_merges') }}
),

classified as (
    select split_part(reason, ':', 1) as merge_kind
    from customer_merges
),

final as (
    select
        merge_kind,
        count(*) as id_changes
    from classified
    group by merge_kind
)

select * from final
