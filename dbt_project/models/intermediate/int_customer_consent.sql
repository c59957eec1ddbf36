-- One row per customer with at least one consent event: the latest event wins (domain.md §5); on the same
-- instant an opt-out wins over an opt-in (the safer reading). Customers without any event have no row:
-- WeCom friends never asked are not opted out.

with

events as (
    select * from {{ ref('int_consent_events') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by event_at desc, marketing_consent asc, consent_source asc, event_id asc
        ) as recency_rank
    from events
),

final as (
    select
        customer_id,
        marketing_consent,
        event_at as decided_at,
        consent_source as decided_by,
        event_id as deciding_event_id
    from ranked
    where recency_rank = 1
)

select * from final
