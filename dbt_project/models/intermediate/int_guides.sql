-- One row per shopping guide (导购) the data names: friendship owners, group owners, tills' salespeople
-- and guides whose customers wait for a new guide. The store is where the guide sells most at the till,
-- else the store most of their customers were added for (the contact way's state ends in _s<store no>).

with

relations as (
    select * from {{ ref('stg_wecom__follow_relations') }}
),

groups as (
    select * from {{ ref('stg_wecom__groups') }}
),

pos_lines as (
    select * from {{ ref('stg_store__pos_lines') }}
),

unassigned as (
    select * from {{ ref('stg_wecom__unassigned_customers') }}
),

named as (
    select guide_userid from relations
    union
    select owner_userid from groups
    union
    select salesperson_userid from pos_lines
    where salesperson_userid is not null
    union
    select handover_userid from unassigned
),

till_store as (
    select
        salesperson_userid as guide_userid, store_id,
        row_number() over (partition by salesperson_userid order by count(*) desc, store_id) as store_rank
    from pos_lines
    where salesperson_userid is not null
    group by salesperson_userid, store_id
),

state_store as (
    select
        guide_userid,
        'S' || lpad({{ dbt.split_part('channel_state', "'_s'", 2) }}, 4, '0') as store_id,
        row_number() over (partition by
            guide_userid order by count(*) desc,
        {{ dbt.split_part('channel_state', "'_s'", 2) }}    ) as store_rank
    from relations
    where {{ dbt.position("'_s'", 'channel_state') }} > 0
    group by guide_userid, {{ dbt.split_part('channel_state', "'_s'", 2) }}
),

resigned as (
    select handover_userid as guide_userid, min(resigned_at) as resigned_at
    from unassigned
    group by handover_userid
),

final as (
    select
        named.guide_userid,
        coalesce(till_store.store_id, state_store.store_id) as store_id,
        resigned.resigned_at
    from named
    left join till_store on named.guide_userid = till_store.guide_userid and till_store.store_rank = 1
    left join state_store on named.guide_userid = state_store.guide_userid and state_store.store_rank = 1
    left join resigned on named.guide_userid = resigned.guide_userid
)

select * from final
