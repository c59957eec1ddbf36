-- One row per shopping guide with the store the KPIs count the guide's customers and groups under
-- (int_guides: where the guide sells most at the till, else where their customers were added; 'unknown'
-- when neither tells). The report assigns customers, groups and guides to stores with it.

with

guides as (
    select * from {{ ref('int_guides') }}
),

final as (
    select
        guide_userid,
        coalesce(store_id, 'unknown') as store_id
    from guides
)

select * from final
