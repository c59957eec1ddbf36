-- One row per shopping guide siyu knows of (int_guides) with the name and store the staff list gives.
-- A guide the staff list lacks keeps a null name; the store falls back to the one int_guides infers.

with

guides as (
    select * from {{ ref('int_guides') }}
),

staff as (
    select * from {{ ref('stg_store__staff') }}
),

stores as (
    select * from {{ ref('stg_store__stores') }}
),

final as (
    select
        guides.guide_userid,
        staff.guide_name,
        coalesce(staff.store_id, guides.store_id) as store_id,
        stores.store_name,
        staff.staff_status,
        guides.resigned_at
    from guides
    left join staff on guides.guide_userid = staff.guide_userid
    left join stores on coalesce(staff.store_id, guides.store_id) = stores.store_id
)

select * from final
