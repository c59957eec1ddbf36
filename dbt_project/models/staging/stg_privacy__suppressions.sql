-- One row per keyed pseudonym on the suppression list siyu.privacy keeps (docs/privacy.md): the
-- identifiers, customer ids and order ids of erased customers, HMAC-SHA256 under siyu's key, never the
-- raw values. Audiences suppress a customer any of whose identifiers is on it.

with

suppressions as (
    select * from {{ siyu.privacy_relation('suppressions.parquet', {
        'pseudonym': dbt.type_string(), 'kind': dbt.type_string(), 'request_id': dbt.type_string(), 'key_fingerprint': dbt.type_string(),
    }) }} as listed
),

final as (
    select
        pseudonym,
        kind as identifier_kind,
        request_id as erasure_request_id
    from suppressions
)

select * from final
