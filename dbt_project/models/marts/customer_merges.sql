{{ config(materialized='incremental', full_refresh=false) }}

-- One row per customer id that stopped naming a cluster of its own in a run: merged into an older
-- customer, or split off. Appended, never rebuilt, so the history survives full refreshes.

with

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

-- The rows the latest run changed (int_identity_map writes only those, with its time).
this_run as (
    select * from identity_map
    where assigned_at = (select max(latest.assigned_at) from identity_map as latest)
),

-- The ids the identifiers observed now hold, changed this run or not (not the history's).
still_used as (
    select distinct customer_id from {{ ref('int_customer_nodes') }}
),

changes as (
    select distinct
        this_run.previous_customer_id as merged_id,
        this_run.customer_id as into_id,
        this_run.assigned_at as merged_at,
        case
            when still_used.customer_id is null then 'merged: new data joined its identifiers to an older customer'
            else 'split: some of its identifiers no longer connect to the rest'
        end as reason
    from this_run
    left join still_used on this_run.previous_customer_id = still_used.customer_id
    where
        this_run.previous_customer_id is not null
        and this_run.previous_customer_id != this_run.customer_id
),

final as (
    select * from changes
    {% if is_incremental() %}
    where merged_at > (select coalesce(max(merged_at), cast('1900-01-01' as timestamp)) from {{ this }})
    {% endif %}
)

select * from final
