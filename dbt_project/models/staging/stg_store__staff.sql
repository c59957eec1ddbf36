-- One row per staff member in the staff list (导购档案): the latest snapshot that lists them wins. The
-- userid is the account the tills print as salesperson and WeCom knows the guide by.

with

source as (
    select * from {{ siyu.raw_source('store', 'staff') }}
),

ranked as (
    select
        *,
        row_number() over (partition by userid order by dt desc, file desc) as snapshot_rank
    from source
),

final as (
    select
        userid as guide_userid,
        nullif(name, '') as guide_name,
        nullif(store_id, '') as store_id,
        status as staff_status,
        dt as snapshot_date,
        file as source_file
    from ranked
    where snapshot_rank = 1
)

select * from final
