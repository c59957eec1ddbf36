-- Pairs of phones one digit apart that were written down for the same name: a number mistyped by a
-- guide in a friendship's remark, by a member at the till or by a buyer at checkout (domain.md §2,
-- docs/decisions.md "Phone typos"). Each pair becomes an edge of the identity graph.
--
-- Rule: both phones are matchable (merge protection and blocked values already applied), they differ
-- in exactly one digit after the leading 1, and one record named a person X beside the first phone
-- while another record named X beside the second. A phone with more than one such neighbour is
-- ambiguous and links none of them. var identity_phone_typo_links = false turns the rule off.
--
-- Cost grows with the data: every named phone is written ten times with one digit blanked out, and
-- pairs are found by an equality join on (position, the rest of the number, name).

with

nodes as (
    select node_id, node_key, id_value
    from {{ ref('int_identity_nodes') }}
    where id_type = 'phone'
),

friendship_months as (
    select * from {{ ref('int_friendship_months') }}
),

store_members as (
    select * from {{ ref('stg_store__members') }}
),

shop_users as (
    select * from {{ ref('stg_shop__users') }}
),

-- The records that give a phone and a name together.
relation_phones as (
    select distinct remark_name as person_name, remark_mobile
    from friendship_months
    where remark_name is not null and remark_mobile is not null
),

named_phones as (
    select distinct phone_e164, person_name
    from (
        select {{ siyu.normalize_phone('remark_mobile') }} as phone_e164, person_name from relation_phones
        union all
        select phone_e164, {{ siyu.normalize_name('member_name') }} from store_members
        union all
        select mobile_e164, {{ siyu.normalize_name('nick_name') }} from shop_users
    ) as named
    where phone_e164 is not null and person_name is not null
),

named_nodes as (
    select nodes.node_id, nodes.node_key, nodes.id_value, named_phones.person_name
    from named_phones
    inner join nodes on 'phone:' || named_phones.phone_e164 = nodes.node_key
),

-- Character positions of the ten digits after +861 in an E.164 mainland mobile (+8613812345678).
positions as (
    {% for position in range(5, 15) -%}
        select {{ position }} as digit_position{% if not loop.last %}
            union all{% endif %}
    {% endfor %}
),

blanked as (
    select
        named_nodes.node_id,
        named_nodes.node_key,
        named_nodes.person_name,
        positions.digit_position,
        substr(named_nodes.id_value, 1, positions.digit_position - 1)
        || substr(named_nodes.id_value, positions.digit_position + 1) as rest_of_number
    from named_nodes
    cross join positions
),

candidates as (
    select
        blanked_from.node_id as from_node_id,
        blanked_to.node_id as to_node_id,
        min(blanked_from.node_key) as from_node_key,
        min(blanked_to.node_key) as to_node_key
    from blanked as blanked_from
    inner join blanked as blanked_to
        on
            blanked_from.digit_position = blanked_to.digit_position
            and blanked_from.rest_of_number = blanked_to.rest_of_number
            and blanked_from.person_name = blanked_to.person_name
            and blanked_from.node_id < blanked_to.node_id
    group by blanked_from.node_id, blanked_to.node_id
),

neighbours as (
    select node_id, count(*) as neighbour_count
    from (
        select from_node_id as node_id from candidates
        union all
        select to_node_id from candidates
    ) as ends
    group by node_id
),

final as (
    select
        candidates.from_node_id,
        candidates.to_node_id,
        'identity' as source_name,
        'phone_typo:' || candidates.from_node_key || '~' || candidates.to_node_key as record_id
    from candidates
    inner join neighbours as from_neighbours on candidates.from_node_id = from_neighbours.node_id
    inner join neighbours as to_neighbours on candidates.to_node_id = to_neighbours.node_id
    where
        from_neighbours.neighbour_count = 1
        and to_neighbours.neighbour_count = 1
        and {{ 'true' if var('identity_phone_typo_links', true) else 'false' }}
)

select * from final
