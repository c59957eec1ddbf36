{#- An incremental run rewrites every period of a (source, customer, tag group) whose periods changed. -#}
{% set period_key = ['source', 'customer_id', 'tag_group'] %}
{{ config(
    materialized=siyu.keyed_history_materialization(),
    unique_key=period_key,
    incremental_strategy=siyu.incremental_strategy(),
    on_schema_change='fail',
    post_hook="{% if is_incremental() %}delete from {{ this }} where is_current is null{% endif %}"
) }}
-- Every tag a customer carries, computed or set by people, in one long table with its history
-- (domain.md §3): one row per customer, tag and uninterrupted period. valid_to is the first day the tag
-- no longer held (null while it holds). Sources:
--   computed  RFM segment, lifecycle stage, order milestone, ladder rung (from customer_segments_daily,
--             so their history is as long as that table's); acquisition channel (since the customer
--             connected); persona and the 33 rule as of the snapshot date, with no history: when they began
--             is not known, so their valid_from is null (a daily run rewrites them only when they change)
--   wecom     corp tags guides set on the friendship (from every daily snapshot of the friendships)
--   store     the membership's store and the marketing opt-in
--
-- Incremental (issue 22): periods are computed again only from each history's first changed day on. The
-- days var segments_revision_max_days before the latest day the stored periods show may have changed
-- (customer_segments_daily revises no older day; a WeCom snapshot landing later than that waits for a full
-- refresh): each is compared, by its tag rows and a checksum of them, with what the stored periods say it
-- held, and the first that differs starts the recomputation; when none does, only the new days are added. A
-- period that held on the stored day before it keeps its valid_from and continues into the recomputed days.
-- The tags with no history are computed again whole. Only the (source, customer, tag group) whose rows
-- changed are written: all their periods, replacing the stored ones (delete+insert on that key). A key left
-- with no rows at all (an id merged away) is written as one marker row, which the post-hook deletes with
-- the stored ones. A full refresh computes everything from the first day; both give the same rows
-- (tests/test_incremental_replay.py). Kept periods keep the customer_id of their days, as
-- customer_segments_daily does.

{% set daily_tag_groups = ['rfm_segment', 'lifecycle_stage', 'order_milestone', 'ladder_rung'] %}
{#- The stored rows with a history: the daily computed tags and every WeCom tag. -#}
{% set has_history -%}
    (stored.source = 'wecom' or (stored.source = 'computed' and stored.tag_group in ('{{ daily_tag_groups | join("', '") }}')))
{%- endset %}

with

daily as (
    select customer_id, snapshot_date, {{ daily_tag_groups | join(', ') }}
    from {{ ref('customer_segments_daily') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

personas as (
    select * from {{ ref('customer_personas') }}
),

connections as (
    select * from {{ ref('prep_customer_connections') }}
),

tag_snapshots as (
    select * from {{ ref('stg_wecom__relation_tag_snapshots') }}
),

corp_tags as (
    select * from {{ ref('stg_wecom__corp_tags') }}
),

store_members as (
    select * from {{ ref('stg_store__members') }}
),

customer_nodes as (
    select * from {{ ref('int_customer_nodes') }}
),

history_sources as (
    select 'computed' as source
    union all
    select 'wecom'
),

{% if is_incremental() -%}
stored as (
    select * from {{ this }}
),

stored_history as (
    select * from stored
    where {{ has_history }}
),

latest_stored_days as (
    select source, max(coalesce(valid_to, valid_from)) as latest_day
    from stored_history
    group by source
),
{%- endif %}

{% if is_incremental() -%}
-- The days a history may revise: up to segments_revision_max_days before its latest stored day.
revisable as (
    select
        source,
        latest_day,
        cast({{ dbt.dateadd('day', -var('segments_revision_max_days'), 'latest_day') }} as date) as first_revisable_day
    from latest_stored_days
),

-- Each revisable day as its inputs say now, and as the stored periods say: tag rows and a checksum of them
-- per source and day. The first day they differ is where the history is computed again; usually none
-- differs and only the new days are (issue 22: a day's run costs what changed, not the revision window).
-- The daily rows are one per customer and day (a data test), four tags each; were one duplicated, its day
-- would differ and be computed again, which is safe.
fresh_wecom as (
    select distinct
        customer_nodes.customer_id,
        tag_snapshots.snapshot_date,
        coalesce(corp_tags.tag_group_name, 'wecom') as tag_group,
        coalesce(corp_tags.tag_name, tag_snapshots.tag_id) as tag
    from tag_snapshots
    inner join revisable
        on
            revisable.source = 'wecom'
            and tag_snapshots.snapshot_date between revisable.first_revisable_day and revisable.latest_day
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'tag_snapshots.external_userid') }}
    left join corp_tags on tag_snapshots.tag_id = corp_tags.tag_id
),

fresh_day_sums as (
    select
        'computed' as source,
        daily.snapshot_date,
        {{ daily_tag_groups | length }} * count(*) as tag_rows,
        sum(
        {%- for tag_group in daily_tag_groups %}
            {{ siyu.tag_checksum('daily.customer_id', "'" ~ tag_group ~ "'", 'daily.' ~ tag_group) }}
            {%- if not loop.last %} +{% endif %}
        {%- endfor %}
        ) as checksum
    from daily
    inner join revisable
        on
            revisable.source = 'computed'
            and daily.snapshot_date between revisable.first_revisable_day and revisable.latest_day
    group by daily.snapshot_date
    union all
    select
        'wecom',
        snapshot_date,
        count(*),
        sum({{ siyu.tag_checksum('customer_id', 'tag_group', 'tag') }})
    from fresh_wecom
    group by snapshot_date
),

-- The stored side without a row per period and day: a period held over the revisable days adds its row
-- and checksum from the later of its valid_from and the first revisable day and takes them away on its
-- valid_to; running sums over the days give each day's rows and checksum.
stored_in_window as (
    select
        stored_history.source,
        stored_history.valid_to,
        revisable.latest_day,
        greatest(stored_history.valid_from, revisable.first_revisable_day) as counted_from,
        {{ siyu.tag_checksum('stored_history.customer_id', 'stored_history.tag_group', 'stored_history.tag') }}
            as checksum
    from stored_history
    inner join revisable on stored_history.source = revisable.source
    where
        stored_history.valid_from <= revisable.latest_day
        and (stored_history.valid_to is null or stored_history.valid_to > revisable.first_revisable_day)
),

stored_day_changes as (
    select source, snapshot_date, sum(row_change) as row_change, sum(checksum_change) as checksum_change
    from (
        select source, counted_from as snapshot_date, 1 as row_change, checksum as checksum_change
        from stored_in_window
        union all
        select source, valid_to, -1, -checksum
        from stored_in_window
        where valid_to <= latest_day
        union all
        select source, snapshot_date, 0, 0
        from fresh_day_sums
    ) as changes
    group by source, snapshot_date
),

stored_day_sums as (
    select
        source,
        snapshot_date,
        sum(row_change) over (
            partition by source order by snapshot_date rows between unbounded preceding and current row
        ) as tag_rows,
        sum(checksum_change) over (
            partition by source order by snapshot_date rows between unbounded preceding and current row
        ) as checksum
    from stored_day_changes
),

first_changed_days as (
    select fresh_day_sums.source, min(fresh_day_sums.snapshot_date) as first_changed_day
    from fresh_day_sums
    left join stored_day_sums
        on
            fresh_day_sums.source = stored_day_sums.source
            and fresh_day_sums.snapshot_date = stored_day_sums.snapshot_date
    where
        stored_day_sums.snapshot_date is null
        or fresh_day_sums.tag_rows != stored_day_sums.tag_rows
        or fresh_day_sums.checksum != stored_day_sums.checksum
    group by fresh_day_sums.source
),
{%- endif %}

-- Each history is computed again from first_day on: an incremental run from its first changed day, else
-- from the day after its latest stored one; a full refresh (or a history with nothing stored) from the
-- beginning.
windows as (
    select
        history_sources.source,
        {% if is_incremental() -%}
            coalesce(
                first_changed_days.first_changed_day,
                cast({{ dbt.dateadd('day', 1, 'latest_stored_days.latest_day') }} as date),
                cast('1900-01-01' as date)
            )
        {%- else -%}
            cast('1900-01-01' as date)
        {%- endif %} as first_day
    from history_sources
    {% if is_incremental() -%}
        left join latest_stored_days on history_sources.source = latest_stored_days.source
        left join first_changed_days on history_sources.source = first_changed_days.source
    {%- endif %}
),

daily_in_window as (
    select * from daily
    where snapshot_date >= (
        select windows.first_day from windows
        where windows.source = 'computed'
    )
),

tag_snapshots_in_window as (
    select * from tag_snapshots
    where snapshot_date >= (
        select windows.first_day from windows
        where windows.source = 'wecom'
    )
),

wecom_daily as (
    select
        customer_nodes.customer_id,
        tag_snapshots_in_window.snapshot_date,
        coalesce(corp_tags.tag_group_name, 'wecom') as tag_group,
        coalesce(corp_tags.tag_name, tag_snapshots_in_window.tag_id) as tag
    from tag_snapshots_in_window
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'external_userid', 'tag_snapshots_in_window.external_userid') }}
    left join corp_tags on tag_snapshots_in_window.tag_id = corp_tags.tag_id
),

window_days as (
    select distinct 'computed' as source, snapshot_date from daily_in_window
    union all
    select distinct 'wecom', snapshot_date from tag_snapshots_in_window
),

-- The stored day just before each window: a period that held on it continues into the window.
boundary_days as (
    {% if is_incremental() -%}
        select 'computed' as source, max(snapshot_date) as snapshot_date
        from daily
        where snapshot_date < (
            select windows.first_day from windows
            where windows.source = 'computed'
        )
        union all
        select 'wecom', max(snapshot_date)
        from tag_snapshots
        where snapshot_date < (
            select windows.first_day from windows
            where windows.source = 'wecom'
        )
    {%- else -%}
        select source, cast(null as date) as snapshot_date from history_sources
        where 1 = 0
    {%- endif %}
),

-- Days are numbered so that two stored days in a row are consecutive even when a day is missing; next_day
-- is the stored day after (a period whose last day this is ends on it).
numbered_days as (
    select
        source,
        snapshot_date,
        dense_rank() over (partition by source order by snapshot_date) as day_number,
        lead(snapshot_date) over (partition by source order by snapshot_date) as next_day
    from (
        select source, snapshot_date from window_days
        union all
        select source, snapshot_date from boundary_days
        where snapshot_date is not null
    ) as days
),

-- The computed tags: one row per customer and day with its four tags (one window over customer-days, not
-- one per tag: issue 22, a year of history in bounded memory), the boundary day's row from the stored
-- periods, each tag with held_since, the valid_from of the stored period that held on it (null: none did).
computed_days as (
    select
        customer_id,
        snapshot_date,
        {%- for tag_group in daily_tag_groups %}
            {{ tag_group }},
            cast(null as date) as {{ tag_group }}_held_since,
            true as has_{{ tag_group }},
        {%- endfor %}
        false as is_boundary
    from daily_in_window
    {%- if is_incremental() %}
        union all
        select
            stored_history.customer_id,
            boundary_days.snapshot_date,
            {%- for tag_group in daily_tag_groups %}
                max(case when stored_history.tag_group = '{{ tag_group }}' then stored_history.tag end),
                max(case when stored_history.tag_group = '{{ tag_group }}' then stored_history.valid_from end),
                max(case when stored_history.tag_group = '{{ tag_group }}' then 1 else 0 end) = 1,
            {%- endfor %}
            true
        from stored_history
        inner join boundary_days on stored_history.source = boundary_days.source
        where
            stored_history.source = 'computed'
            and stored_history.valid_from <= boundary_days.snapshot_date
            and (stored_history.valid_to is null or stored_history.valid_to > boundary_days.snapshot_date)
        group by stored_history.customer_id, boundary_days.snapshot_date
    {%- endif %}
),

-- Each tag's row starts a period unless the customer's row of the stored day before held the same tag, and
-- ends one unless the row of the stored day after does.
{% set by_customer = 'over (partition by computed_days.customer_id order by computed_days.snapshot_date)' -%}
computed_marked as (
    select
        computed_days.*,
        numbered_days.next_day,
        {%- for tag_group in daily_tag_groups %}
            coalesce(
                lag(numbered_days.day_number) {{ by_customer }} = numbered_days.day_number - 1
                and lag(computed_days.has_{{ tag_group }}) {{ by_customer }}
                and lag(computed_days.{{ tag_group }}) {{ by_customer }}
                is not distinct from computed_days.{{ tag_group }},
                false
            ) as continues_{{ tag_group }},
            coalesce(
                lead(numbered_days.day_number) {{ by_customer }} = numbered_days.day_number + 1
                and lead(computed_days.has_{{ tag_group }}) {{ by_customer }}
                and lead(computed_days.{{ tag_group }}) {{ by_customer }}
                is not distinct from computed_days.{{ tag_group }},
                false
            ) as goes_on_{{ tag_group }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from computed_days
    inner join numbered_days
        on numbered_days.source = 'computed' and computed_days.snapshot_date = numbered_days.snapshot_date
),

-- Only the days a period starts or ends on, one row per tag: a start's valid_to is its own next_day when
-- it also ends there, else the next_day of the following row (its end).
computed_bounds as (
    {%- for tag_group in daily_tag_groups %}
        select
            customer_id,
            '{{ tag_group }}' as tag_group,
            {{ tag_group }} as tag,
            snapshot_date,
            coalesce({{ tag_group }}_held_since, snapshot_date) as valid_from,
            next_day,
            not continues_{{ tag_group }} as is_start,
            not goes_on_{{ tag_group }} as is_end
        from computed_marked
        where has_{{ tag_group }} and not (continues_{{ tag_group }} and goes_on_{{ tag_group }})
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

computed_history as (
    select
        customer_id,
        tag_group,
        tag,
        'computed' as source,
        valid_from,
        case when is_end then next_day else end_next_day end as valid_to
    from (
        select
            computed_bounds.*,
            lead(computed_bounds.next_day) over (
                partition by computed_bounds.customer_id, computed_bounds.tag_group
                order by computed_bounds.snapshot_date
            ) as end_next_day
        from computed_bounds
    ) as bounds
    where is_start
),

-- The WeCom tags (several a day per group): islands of consecutive days per customer and tag.
-- held_since: the valid_from of a stored period that held on the boundary day.
wecom_tag_days as (
    select distinct customer_id, snapshot_date, tag_group, tag, cast(null as date) as held_since
    from wecom_daily
    {%- if is_incremental() %}
        union all
        select
            stored_history.customer_id,
            boundary_days.snapshot_date,
            stored_history.tag_group,
            stored_history.tag,
            stored_history.valid_from
        from stored_history
        inner join boundary_days on stored_history.source = boundary_days.source
        where
            stored_history.source = 'wecom'
            and stored_history.valid_from <= boundary_days.snapshot_date
            and (stored_history.valid_to is null or stored_history.valid_to > boundary_days.snapshot_date)
    {%- endif %}
),

islands as (
    select
        wecom_tag_days.customer_id,
        wecom_tag_days.tag_group,
        wecom_tag_days.tag,
        wecom_tag_days.snapshot_date,
        wecom_tag_days.held_since,
        numbered_days.day_number - row_number() over (
            partition by wecom_tag_days.customer_id, wecom_tag_days.tag_group, wecom_tag_days.tag
            order by wecom_tag_days.snapshot_date
        ) as island
    from wecom_tag_days
    inner join numbered_days on
        numbered_days.source = 'wecom'
        and wecom_tag_days.snapshot_date = numbered_days.snapshot_date
),

periods as (
    select
        customer_id,
        tag_group,
        tag,
        min(coalesce(held_since, snapshot_date)) as valid_from,
        max(snapshot_date) as last_day
    from islands
    group by customer_id, tag_group, tag, island
),

-- A period ends on the next stored day after its last one; it is open when its last day is the latest.
history as (
    select
        periods.customer_id,
        periods.tag_group,
        periods.tag,
        'wecom' as source,
        periods.valid_from,
        numbered_days.next_day as valid_to
    from periods
    inner join numbered_days
        on numbered_days.source = 'wecom' and periods.last_day = numbered_days.snapshot_date
    union all
    select * from computed_history
),

-- Tags computed as of the snapshot date only: valid_from null where when the tag began is not known (the
-- snapshot date would claim it began that day, and change every day: issue 22).
current_only as (
    select
        customer_id, 'persona' as tag_group, persona as tag, 'computed' as source,
        cast(null as date) as valid_from, cast(null as date) as valid_to
    from personas
    union all
    select
        customer_id, 'acquisition_channel', lifecycle.acquisition_channel, 'computed',
        connections.connected_on, cast(null as date)
    from lifecycle
    inner join connections using (customer_id)
    union all
    select
        customer_id, 'rule33', case when is_rule33_quality then 'quality' else 'not_yet' end, 'computed',
        cast(null as date), cast(null as date)
    from lifecycle
),

store_tags as (
    select
        customer_nodes.customer_id, 'member_store' as tag_group, store_members.store_id as tag, 'store' as source,
        cast(store_members.registered_at as date) as valid_from, cast(null as date) as valid_to
    from store_members
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'member_card', 'store_members.member_card') }}
    union all
    select
        customer_nodes.customer_id, 'marketing_consent',
        case when store_members.marketing_opt_in then 'opted_in' else 'opted_out' end, 'store',
        cast(store_members.registered_at as date), cast(null as date)
    from store_members
    inner join customer_nodes
        on {{ siyu.customer_node_is('customer_nodes', 'member_card', 'store_members.member_card') }}
),

unioned as (
    select * from history
    union all
    select * from current_only
    union all
    select * from store_tags
),

recomputed as (
    select
        customer_id,
        tag_group,
        tag,
        source,
        min(valid_from) as valid_from,
        valid_to,
        valid_to is null as is_current
    from unioned
    group by customer_id, tag_group, tag, source, valid_to
),

{% if is_incremental() -%}
-- Stored periods of a history that ended before its window stay as they are; every other stored row is
-- replaced by what was computed again.
stored_kept_or_not as (
    select
        stored.*,
        coalesce({{ has_history }} and stored.valid_to < windows.first_day, false) as is_kept
    from stored
    left join windows on stored.source = windows.source
),

kept as (
    select customer_id, tag_group, tag, source, valid_from, valid_to, is_current
    from stored_kept_or_not
    where is_kept
),

replaced as (
    select customer_id, tag_group, tag, source, valid_from, valid_to, is_current
    from stored_kept_or_not
    where not is_kept
),

changed_keys as (
    select distinct source, customer_id, tag_group
    from (
        (select * from recomputed except select * from replaced)
        union all
        (select * from replaced except select * from recomputed)
    ) as differences
),

keys_with_rows as (
    select distinct source, customer_id, tag_group from recomputed
),

final as (
    select recomputed.*
    from recomputed
    inner join changed_keys using (source, customer_id, tag_group)
    union all
    select kept.*
    from kept
    inner join changed_keys using (source, customer_id, tag_group)
    union all
    -- A key with no rows left: one marker row (is_current null) so that its stored rows are deleted.
    select
        changed_keys.customer_id,
        changed_keys.tag_group,
        cast(null as {{ dbt.type_string() }}) as tag,
        changed_keys.source,
        cast(null as date) as valid_from,
        cast(null as date) as valid_to,
        cast(null as boolean) as is_current
    from changed_keys
    left join keys_with_rows
        on
            changed_keys.source = keys_with_rows.source
            and changed_keys.customer_id = keys_with_rows.customer_id
            and changed_keys.tag_group = keys_with_rows.tag_group
    where keys_with_rows.customer_id is null
)
{% else %}
-- noqa: disable=LT02
final as (
    select * from recomputed
)
-- noqa: enable=LT02
{% endif %}

select * from final
