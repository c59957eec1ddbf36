-- Merge protection (domain.md §2): identifier values with evidence that several people share them are
-- left out of matching. Evidence, not volume: a value that links more distinct strong identifiers than
-- its type's limit (var identity_link_limits: a counter phone typed on several members' receipts, a
-- guide's own phone noted on her customers' friendships), or a phone the brand lists as a store or staff
-- phone (var identity_shared_phones). A phone typed on many receipts with nothing else is one loyal
-- customer as far as the data can tell (issue 16), so receipts are counted for the report only. One row
-- per excluded value.

with

observed as (
    select * from {{ ref('int_identifiers_observed') }}
),

-- Strong identifiers name one account: a member card, a shop account, a WeCom contact.
strong as (
    select record_id, node_key as strong_key
    from observed
    where id_type in (
        {%- for id_type in var('identity_strong_types') %}
            '{{ id_type }}'{{ "," if not loop.last }}
        {%- endfor %}
    )
),

links as (
    select
        observed.id_type,
        observed.id_value,
        observed.node_key,
        count(distinct case when strong.strong_key != observed.node_key then strong.strong_key end)
            as strong_identifiers_linked,
        count(distinct observed.record_id) as records
    from observed
    left join strong on observed.record_id = strong.record_id
    group by observed.id_type, observed.id_value, observed.node_key
),

receipts_per_phone as (
    select node_key, count(distinct record_id) as receipts
    from observed
    where id_type = 'phone' and record_id like 'receipt:%'
    group by node_key
),

limits as (
    {%- for id_type, limit in var('identity_link_limits').items() %}
        select '{{ id_type }}' as id_type, {{ limit }} as link_limit
        {{- " union all" if not loop.last }}
    {%- endfor %}
),

-- The brand's known store and staff phones, normalised as every phone is before matching.
shared_phones as (
    {%- for phone in var('identity_shared_phones') or [] %}
        select 'phone:' || {{ siyu.normalize_phone("'" ~ phone ~ "'") }} as node_key
        {{- " union all" if not loop.last }}
    {%- else %}
        select cast(null as {{ dbt.type_string() }}) as node_key
    {%- endfor %}
),

final as (
    select
        links.id_type,
        links.id_value,
        links.node_key,
        links.strong_identifiers_linked,
        links.records,
        coalesce(receipts_per_phone.receipts, 0) as receipts,
        limits.link_limit,
        case
            when links.strong_identifiers_linked > limits.link_limit
                then
                    'links ' || cast(links.strong_identifiers_linked as {{ dbt.type_string() }})
                    || ' strong identifiers (limit ' || cast(limits.link_limit as {{ dbt.type_string() }}) || ')'
            else 'a known store or staff phone (identity_shared_phones)'
        end as reason
    from links
    inner join limits on links.id_type = limits.id_type
    left join receipts_per_phone on links.node_key = receipts_per_phone.node_key
    left join shared_phones on links.node_key = shared_phones.node_key
    where
        links.strong_identifiers_linked > limits.link_limit
        or shared_phones.node_key is not null
)

select * from final
