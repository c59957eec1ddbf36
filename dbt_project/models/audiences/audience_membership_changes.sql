{{ config(materialized='incremental', incremental_strategy='append', full_refresh=False) }}
-- Who entered and who left each audience, and when, so an activation tool syncs only the difference.
-- Each run compares audience_assignments with the membership the events so far describe (a customer is
-- in an audience after an 'entered' until a 'left'). Rerunning on the same data adds nothing. A full
-- refresh does not wipe this history.

with

current_members as (
    select customer_id, audience, computed_on from {{ ref('audience_assignments') }}
),

{% if is_incremental() %}
events as (
    select
        customer_id,
        audience,
        change,
        row_number() over (partition by customer_id, audience order by changed_at desc, change desc) as event_rank
    from {{ this }}
),

previous_members as (
    select customer_id, audience from events where event_rank = 1 and change = 'entered'
),
{% else %}
    previous_members as (
        select cast(null as {{ dbt.type_string() }}) as customer_id, cast(null as {{ dbt.type_string() }}) as audience
        where 1 = 0
    ),
{% endif %}

entered as (
    select current_members.customer_id, current_members.audience
    from current_members
    left join previous_members
        on
            current_members.customer_id = previous_members.customer_id
            and current_members.audience = previous_members.audience
    where previous_members.customer_id is null
),

exited as (
    select previous_members.customer_id, previous_members.audience
    from previous_members
    left join current_members
        on
            previous_members.customer_id = current_members.customer_id
            and previous_members.audience = current_members.audience
    where current_members.customer_id is null
),

final as (
    select customer_id, audience, 'entered' as change from entered
    union all
    select customer_id, audience, 'left' from exited
)

select
    customer_id,
    audience,
    change,
    {{ siyu.snapshot_date() }} as effective_on,
    {{ siyu.run_started_local() }} as changed_at
from final
