-- The relationship ladder (domain.md §3, seed 004 §22), one row per customer as of the snapshot date:
-- 粉丝 fan (connected, never bought) → 客户 customer (bought) → 会员 member (holds a store membership)
-- → KOC (brought others: a share-link order or a fission-poster join). The highest rung reached counts.

with

daily as (
    select * from {{ ref('customer_segments_daily') }}
    where snapshot_date = {{ siyu.snapshot_date() }}
),

connections as (
    select * from {{ ref('prep_customer_connections') }}
),

rungs as (
    select * from {{ ref('ladder_rungs') }}
),

final as (
    select
        daily.snapshot_date,
        daily.customer_id,
        daily.ladder_rung,
        rungs.rung_zh,
        rungs.rung_en,
        rungs.rung_order,
        daily.lifetime_orders > 0 as has_bought,
        connections.member_since is not null
        and cast(connections.member_since as date) <= daily.snapshot_date as is_member,
        connections.referrals,
        connections.koc_since
    from daily
    inner join rungs on daily.ladder_rung = rungs.ladder_rung
    inner join connections on daily.customer_id = connections.customer_id
)

select * from final
