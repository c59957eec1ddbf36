-- The audiences of the snapshot date: every candidate not suppressed, one audience per customer (the
-- lowest priority number in the seed audience_registry wins), so no customer is targeted twice in a day.
-- The per-audience models select from here.

with

candidates as (
    select * from {{ ref('prep_audience_candidates') }}
),

suppressed as (
    select distinct customer_id from {{ ref('prep_audience_suppressions') }}
),

ranked as (
    select
        candidates.*,
        row_number() over (partition by candidates.customer_id order by candidates.priority, candidates.audience)
            as audience_rank
    from candidates
    left join suppressed on candidates.customer_id = suppressed.customer_id
    where suppressed.customer_id is null
),

final as (
    select
        customer_id,
        audience,
        reason,
        channel,
        guide_userid,
        external_userid,
        chat_id,
        priority,
        {{ siyu.snapshot_date() }} as computed_on,
        {{ siyu.run_started_local() }} as computed_at
    from ranked
    where audience_rank = 1
)

select * from final
