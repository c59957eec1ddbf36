{{ config(
    materialized='incremental',
    unique_key='snapshot_month',
    incremental_strategy=siyu.incremental_strategy(),
    partition_by=siyu.partition_by('snapshot_month'),
    on_schema_change='fail'
) }}
-- The WeCom friendship snapshots folded by calendar month: one row per state of a friendship (guide ×
-- customer, when added, the add channel, the guide's remark and each phone noted in it; null when none) per
-- month it was seen in, with the first and last snapshot day of that month it was seen on. The models that
-- need every snapshot (the phones noted on friendships since deleted, when a friendship was last seen) read
-- this instead of a partition per day: its rows grow with the states and months, not with the days kept.
-- Incremental (issue 22): a run recomputes, whole, the months from the one holding the latest stored day less
-- var segments_revision_max_days (macro month_recompute_from), from those months' snapshots only, and keeps
-- the older months as stored. Erasure drops the table (its older months would keep her), and the next build
-- folds it again from the lake she has left (siyu.privacy).
{%- set recompute_from = siyu.month_recompute_from('last_seen_on') if is_incremental() else none %}

with

snapshots as (
    select * from {{ ref('stg_wecom__relation_snapshots') }}
    {%- if recompute_from %}
    where snapshot_date >= {{ recompute_from }}
    {%- endif %}
),

states as (
    select
        guide_userid,
        external_userid,
        added_at,
        channel_state,
        remark_name,
        {{ siyu.explode_outer('remark_mobiles') }} as remark_mobile,
        snapshot_date
    from snapshots
),

final as (
    select
        cast({{ dbt.date_trunc('month', 'snapshot_date') }} as date) as snapshot_month,
        guide_userid,
        external_userid,
        added_at,
        channel_state,
        remark_name,
        remark_mobile,
        min(snapshot_date) as first_seen_on,
        max(snapshot_date) as last_seen_on
    from states
    group by
        cast({{ dbt.date_trunc('month', 'snapshot_date') }} as date),
        guide_userid,
        external_userid,
        added_at,
        channel_state,
        remark_name,
        remark_mobile
)

select * from final
