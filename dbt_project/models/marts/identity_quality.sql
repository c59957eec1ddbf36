-- One row per build: the identity resolution's quality. Against the world's truth when there is one:
-- pairwise precision, recall and F1 over identifiers that belong to exactly one true person; always:
-- customers, the largest cluster, the clusters holding more strong identifiers (member cards, shop
-- accounts, WeCom contacts) of a type than the type's merge limit (var identity_link_limits: none
-- should), and the values merge protection excluded. measured_at is the build's time (local).

with

current_map as (
    select * from {{ ref('int_customer_nodes') }}
),

excluded as (
    select * from {{ ref('int_identity_excluded_values') }}
),

truth as (
    select * from {{ ref('stg_truth__identifiers') }}
),

single_owner as (
    select node_key, min(person_id) as person_id
    from truth
    group by node_key
    having count(distinct person_id) = 1
),

evaluated as (
    select current_map.customer_id, single_owner.person_id
    from current_map
    inner join single_owner on current_map.node_key = single_owner.node_key
),

pairs_together as (
    select sum(cast(together * (together - 1) / 2 as double)) as true_positive_pairs
    from (
        select count(*) as together from evaluated
        group by customer_id, person_id
    ) as cells
),

pairs_predicted as (
    select sum(cast(size * (size - 1) / 2 as double)) as predicted_pairs
    from (
        select count(*) as size from evaluated
        group by customer_id
    ) as clusters
),

pairs_true as (
    select sum(cast(size * (size - 1) / 2 as double)) as true_pairs
    from (
        select count(*) as size from evaluated
        group by person_id
    ) as persons
),

cluster_sizes as (
    select customer_id, count(*) as size from current_map
    group by customer_id
),

per_type as (
    select customer_id, id_type, count(*) as identifiers
    from current_map
    group by customer_id, id_type
),

-- The strong identifier types (var identity_strong_types) and their merge limits.
strong_limits as (
    {%- for id_type in var('identity_strong_types') %}
        select '{{ id_type }}' as id_type, {{ var('identity_link_limits')[id_type] }} as link_limit
        {{- " union all" if not loop.last }}
    {%- endfor %}
),

over_limit as (
    select distinct per_type.customer_id
    from per_type
    inner join strong_limits on per_type.id_type = strong_limits.id_type
    where per_type.identifiers > strong_limits.link_limit
),

final as (
    select
        {{ siyu.run_started_local() }} as measured_at,
        (select count(*) from cluster_sizes) as customers,
        (select count(*) from current_map) as identifiers,
        (select max(cluster_sizes.size) from cluster_sizes) as largest_cluster,
        (select count(*) from over_limit) as clusters_over_limit,
        (select count(*) from excluded) as excluded_values,
        (select count(*) from evaluated) as evaluated_identifiers,
        (select count(distinct evaluated.person_id) from evaluated) as true_persons,
        pairs_together.true_positive_pairs / nullif(pairs_predicted.predicted_pairs, 0) as pairwise_precision,
        pairs_together.true_positive_pairs / nullif(pairs_true.true_pairs, 0) as pairwise_recall
    from pairs_together
    cross join pairs_predicted
    cross join pairs_true
)

select
    *,
    2 * pairwise_precision * pairwise_recall / nullif(pairwise_precision + pairwise_recall, 0) as pairwise_f1
from final
