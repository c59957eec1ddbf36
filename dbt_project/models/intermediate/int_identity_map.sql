{#-
    Stable customer ids: one row per identifier ever matched, with the customer_id it belongs to. One SQL
    model for every engine (it was a Python model; issue 21), so the rules are the same on DuckDB and Spark.
    A full refresh never wipes this table (full_refresh=false): ids outlive rebuilds. Each run:
    - a cluster whose identifiers had no id gets a new one derived from its cluster key ('C' and the first 16
      hex digits of its SHA-256), so the same data always gives the same ids; when that id already names a
      customer (a split part deriving from the key an id came from), the key salted with '#1', '#2', '#3';
    - a cluster joining identifiers of several customers keeps the oldest id (customer_since, then the id);
      the others are recorded as merged into it (customer_merges);
    - a customer whose identifiers now fall in several clusters keeps its id in the part holding most of them
      (then the larger cluster, then the smaller cluster key); the other parts get new ids.
    Identifiers no longer observed keep their last row (history; int_customer_nodes leaves them out).
    A row changes only when its identifier's id, customer_since, cluster or type does: it then records the
    id it had (previous_customer_id, null for a new identifier) and the run (assigned_at). An unchanged row
    is returned as stored, so a day writes only the rows it changed (strategy changed_rows; issue 22).
-#}
{{ config(
    materialized='incremental',
    full_refresh=false,
    unique_key='node_key',
    incremental_strategy=siyu.changed_rows_strategy(),
    post_hook="{{ siyu.drop_incremental_previous_rows(this) }}",
) }}

with

clusters as (
    select node_key, id_type, cluster_key, cluster_size from {{ ref('int_identity_clusters') }}
),

previous as (
    {% if is_incremental() -%}
        select * from {{ siyu.incremental_previous_rows(this) }}
    {%- else -%}
        select
            cast(null as {{ dbt.type_string() }}) as node_key,
            cast(null as {{ dbt.type_string() }}) as id_type,
            cast(null as {{ dbt.type_string() }}) as cluster_key,
            cast(null as {{ dbt.type_string() }}) as customer_id,
            cast(null as timestamp) as customer_since,
            cast(null as {{ dbt.type_string() }}) as previous_customer_id,
            cast(null as timestamp) as assigned_at
        where 1 = 0
    {%- endif %}
),

run_at as (
    select {{ siyu.run_started_local() }} as assigned_at
),

current_nodes as (
    select
        clusters.node_key,
        clusters.id_type,
        clusters.cluster_key,
        clusters.cluster_size,
        previous.customer_id,
        previous.customer_since
    from clusters
    left join previous on clusters.node_key = previous.node_key
),

-- Each previous id and the clusters its identifiers are in now.
candidates as (
    select
        cluster_key,
        customer_id,
        count(*) as nodes,
        min(customer_since) as customer_since,
        max(cluster_size) as cluster_size
    from current_nodes
    where customer_id is not null
    group by cluster_key, customer_id
),

-- Each previous id stays with the cluster holding most of its identifiers (the largest part of a split).
keepers as (
    select
        *,
        row_number() over (
            partition by customer_id order by nodes desc, cluster_size desc, cluster_key asc
        ) as part_rank
    from candidates
),

-- Each cluster keeps the oldest id it holds; the others were merged into it.
chosen as (
    select
        cluster_key,
        customer_id,
        customer_since,
        row_number() over (partition by cluster_key order by customer_since asc, customer_id asc) as id_rank
    from keepers
    where part_rank = 1
),

used_ids as (
    select customer_id from previous
    union
    select customer_id from chosen
    where id_rank = 1
),

fresh_clusters as (
    select distinct clusters.cluster_key
    from clusters
    left join chosen on clusters.cluster_key = chosen.cluster_key and chosen.id_rank = 1
    where chosen.customer_id is null
),

-- The key's id, then its salted ids ('#1', '#2', '#3').
derived as (
    select
        cluster_key,
        {{ siyu.derived_customer_id('cluster_key') }} as attempt_0,
        {{ siyu.derived_customer_id(dbt.concat(['cluster_key', "'#1'"])) }} as attempt_1,
        {{ siyu.derived_customer_id(dbt.concat(['cluster_key', "'#2'"])) }} as attempt_2,
        {{ siyu.derived_customer_id(dbt.concat(['cluster_key', "'#3'"])) }} as attempt_3
    from fresh_clusters
),

-- The first derivation not already naming a customer (null past the last salt: not_null fails the build).
fresh_ids as (
    select
        derived.cluster_key,
        case
            when used_0.customer_id is null then derived.attempt_0
            when used_1.customer_id is null then derived.attempt_1
            when used_2.customer_id is null then derived.attempt_2
            when used_3.customer_id is null then derived.attempt_3
        end as customer_id
    from derived
    left join used_ids as used_0 on derived.attempt_0 = used_0.customer_id
    left join used_ids as used_1 on derived.attempt_1 = used_1.customer_id
    left join used_ids as used_2 on derived.attempt_2 = used_2.customer_id
    left join used_ids as used_3 on derived.attempt_3 = used_3.customer_id
),

assignment as (
    select cluster_key, customer_id, customer_since from chosen
    where id_rank = 1
    union all
    select fresh_ids.cluster_key, fresh_ids.customer_id, run_at.assigned_at as customer_since
    from fresh_ids
    cross join run_at
),

assigned as (
    select
        current_nodes.node_key,
        current_nodes.id_type,
        current_nodes.cluster_key,
        assignment.customer_id,
        assignment.customer_since
    from current_nodes
    inner join assignment on current_nodes.cluster_key = assignment.cluster_key
),

compared as (
    select
        assigned.*,
        previous.customer_id as stored_customer_id,
        previous.previous_customer_id as stored_previous_customer_id,
        previous.assigned_at as stored_assigned_at,
        coalesce(
            previous.customer_id = assigned.customer_id
            and previous.customer_since = assigned.customer_since
            and previous.cluster_key = assigned.cluster_key
            and previous.id_type = assigned.id_type,
            false
        ) as unchanged
    from assigned
    left join previous on assigned.node_key = previous.node_key
),

-- A row as stored when nothing of it changed, else the new one with the id it had and this run's time.
current_rows as (
    select
        compared.node_key,
        compared.id_type,
        compared.cluster_key,
        compared.customer_id,
        compared.customer_since,
        case
            when compared.unchanged then compared.stored_previous_customer_id else compared.stored_customer_id
        end as previous_customer_id,
        case when compared.unchanged then compared.stored_assigned_at else run_at.assigned_at end as assigned_at
    from compared
    cross join run_at
),

-- Identifiers no longer observed (merge protection now excludes the value) keep their row as it was.
history as (
    select
        previous.node_key,
        previous.id_type,
        previous.cluster_key,
        previous.customer_id,
        previous.customer_since,
        previous.previous_customer_id,
        previous.assigned_at
    from previous
    left join clusters on previous.node_key = clusters.node_key
    where clusters.node_key is null
),

final as (
    select * from current_rows
    union all
    select * from history
)

select * from final
