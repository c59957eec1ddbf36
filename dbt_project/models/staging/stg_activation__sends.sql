-- One row per customer the activate_audiences DAG exported to a channel, per audience and day: the
-- warehouse table activation.sends it records them in (the project's on-run-start hook creates it empty).
-- Frequency caps read it.

with

sends as (
    select * from {{ source('activation', 'sends') }}
),

final as (
    select
        customer_id,
        audience,
        channel,
        sent_on,
        run_id
    from sends
)

select * from final
