-- One row per shop visit (the shop's visit tracking export): who visited, when, and from where.
-- A visitor is a yz_open_id when the shop knows the account, else an anonymous id.

with

source as (
    select * from {{ siyu.raw_source('shop', 'visits') }}
),

ranked as (
    select
        *,
        row_number() over (partition by visit_id order by dt desc) as pull_rank
    from source
),

final as (
    select
        visit_id,
        visitor_id,
        {{ siyu.from_unix_seconds('visit_time') }} as visited_at,
        source as visit_source,
        nullif(source_ref, '') as source_ref
    from ranked
    where pull_rank = 1
)

select * from final
