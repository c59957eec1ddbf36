-- One row per distribution and category: how many customers are in each RFM segment, lifecycle stage and
-- relationship-ladder rung (every category listed, empty ones with 0), and the buyers the CLV model
-- predicts for (one 'all' row). The demo summary prints it.

with

rfm_segments as (
    select * from {{ ref('rfm_segments') }}
),

lifecycle_stages as (
    select * from {{ ref('lifecycle_stages') }}
),

ladder_rungs as (
    select * from {{ ref('ladder_rungs') }}
),

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

customer_lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

customer_ladder as (
    select * from {{ ref('customer_ladder') }}
),

customer_clv as (
    select * from {{ ref('customer_clv') }}
),

segments as (
    select
        'rfm_segment' as distribution,
        rfm_segments.rfm_segment as category,
        rfm_segments.segment_zh as label_zh,
        rfm_segments.segment_en as label_en,
        rfm_segments.segment_order as category_order,
        count(customer_rfm.customer_id) as customers,
        coalesce(avg(customer_rfm.monetary), 0) as mean_monetary,
        cast(null as double) as expected_value
    from rfm_segments
    left join customer_rfm on rfm_segments.rfm_segment = customer_rfm.rfm_segment
    group by
        rfm_segments.rfm_segment, rfm_segments.segment_zh, rfm_segments.segment_en, rfm_segments.segment_order
),

stages as (
    select
        'lifecycle_stage' as distribution,
        lifecycle_stages.lifecycle_stage as category,
        lifecycle_stages.stage_zh as label_zh,
        lifecycle_stages.stage_en as label_en,
        lifecycle_stages.stage_order as category_order,
        count(customer_lifecycle.customer_id) as customers,
        cast(null as double) as mean_monetary,
        cast(null as double) as expected_value
    from lifecycle_stages
    left join customer_lifecycle on lifecycle_stages.lifecycle_stage = customer_lifecycle.lifecycle_stage
    group by
        lifecycle_stages.lifecycle_stage, lifecycle_stages.stage_zh, lifecycle_stages.stage_en,
        lifecycle_stages.stage_order
),

rungs as (
    select
        'ladder_rung' as distribution,
        ladder_rungs.ladder_rung as category,
        ladder_rungs.rung_zh as label_zh,
        ladder_rungs.rung_en as label_en,
        ladder_rungs.rung_order as category_order,
        count(customer_ladder.customer_id) as customers,
        cast(null as double) as mean_monetary,
        cast(null as double) as expected_value
    from ladder_rungs
    left join customer_ladder on ladder_rungs.ladder_rung = customer_ladder.ladder_rung
    group by ladder_rungs.ladder_rung, ladder_rungs.rung_zh, ladder_rungs.rung_en, ladder_rungs.rung_order
),

clv as (
    select
        'clv' as distribution,
        'all' as category,
        cast(null as {{ dbt.type_string() }}) as label_zh,
        cast(null as {{ dbt.type_string() }}) as label_en,
        1 as category_order,
        count(*) as customers,
        cast(null as double) as mean_monetary,
        sum(expected_value) as expected_value
    from customer_clv
),

final as (
    select * from segments
    union all
    select * from stages
    union all
    select * from rungs
    union all
    select * from clv
)

select * from final
