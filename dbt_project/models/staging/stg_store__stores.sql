-- One row per store in the store master (门店档案): the latest snapshot that lists it wins.

with

source as (
    select * from {{ siyu.raw_source('store', 'stores') }}
),

ranked as (
    select
        *,
        row_number() over (partition by store_id order by dt desc, file desc) as snapshot_rank
    from source
),

final as (
    select
        store_id,
        store_name,
        nullif(city, '') as city,
        cast(nullif(opened_on, '') as date) as opened_on,
        dt as snapshot_date,
        file as source_file
    from ranked
    where snapshot_rank = 1
)

select * from final
