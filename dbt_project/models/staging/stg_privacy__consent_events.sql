-- One row per consent event siyu.privacy recorded (`siyu consent`: a WeCom callback, a store form, a shop
-- setting, a request to customer service) for one form of an identifier, as its keyed pseudonym (HMAC-SHA256
-- under siyu's key, never the raw value), with when it happened and where it came from.

with

events as (
    select * from {{ siyu.privacy_relation('consent_events.parquet', {
        'event_id': dbt.type_string(), 'pseudonym': dbt.type_string(), 'consent': dbt.type_string(), 'event_at': 'timestamp',
        'source': dbt.type_string(),
    }) }} as recorded
),

final as (
    select
        event_id,
        pseudonym,
        consent = 'opt_in' as marketing_consent,
        event_at,
        source as consent_source
    from events
)

select * from final
