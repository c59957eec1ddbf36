{#-
    Connected components of the identity graph in SQL, for engines where the Python model
    int_identity_clusters cannot run (Spark: models/intermediate/spark/int_identity_clusters.sql).

    Alternating large-star and small-star (Kiveris et al., "Connected Components in MapReduce and
    Beyond", 2014) over an edge table oriented from the larger node id to the smaller. Large-star links
    every larger neighbour of a node to the smallest id of the node's neighbourhood; small-star links a
    node and its smaller neighbours to the smallest of them. Both keep the components and shrink paths,
    so the rounds grow with log n (a path of 10,000 nodes: 14), where plain label propagation needs as
    many passes as the graph is wide. The loop stops when the edges form stars: each node has one edge,
    to a node without one of its own, the smallest id of its component.

    cluster_identity_graph runs as the model's pre-hook (dbt runs hooks only when it builds the model, not
    on compile): it leaves the stars in the work table cluster_work_relation('edges'), which the model
    reads; the post-hook drop_cluster_work_tables drops it. Work tables left by a run that failed midway
    are dropped when the next run starts.
-#}

{#- A work table beside the model (the intermediate schema), named after it. -#}
{% macro cluster_work_relation(name) %}
    {{ return(api.Relation.create(database=this.database, schema=this.schema,
                                  identifier=this.identifier ~ '__' ~ name, type='table')) }}
{% endmacro %}

{% macro drop_cluster_work_tables() %}
    {%- if execute -%}
        {%- for name in ['edges', 'large_star'] -%}
            {%- do adapter.drop_relation(siyu.cluster_work_relation(name)) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}

{#- A table from a query: Parquet on Spark (dbt-spark would otherwise take the model's file format). -#}
{% macro create_work_table(relation, sql) %}{{ return(adapter.dispatch('create_work_table', 'siyu')(relation, sql)) }}{% endmacro %}
{% macro default__create_work_table(relation, sql) %}create table {{ relation }} as {{ sql }}{% endmacro %}
{% macro spark__create_work_table(relation, sql) %}create table {{ relation }} using parquet as {{ sql }}{% endmacro %}

{#- Replace the work table `target` by the result of a query over the work table `source`, then drop
    `source`. -#}
{% macro cluster_work_step(source, target, sql) %}
    {%- do adapter.drop_relation(target) -%}
    {%- do run_query(siyu.create_work_table(target, sql)) -%}
    {%- do adapter.drop_relation(source) -%}
{% endmacro %}

{% macro cluster_identity_graph(edges) %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set work = siyu.cluster_work_relation('edges') -%}
    {%- set large_star = siyu.cluster_work_relation('large_star') -%}
    {%- set max_rounds = var('identity_cluster_max_rounds') | int -%}
    {%- do siyu.drop_cluster_work_tables() -%}

    {#- Each edge once, from the larger node id to the smaller; self edges link nothing. -#}
    {%- do run_query(siyu.create_work_table(work, "
        select distinct
            cast(greatest(from_node_id, to_node_id) as bigint) as node_id,
            cast(least(from_node_id, to_node_id) as bigint) as parent_id
        from " ~ edges ~ "
        where from_node_id != to_node_id")) -%}

    {%- set state = namespace(rounds=0, converged=false) -%}
    {%- for round in range(max_rounds + 1) -%}
        {#- Stars: no node with two edges, no edge to a node that has one. -#}
        {%- set not_star = run_query("
            select count(*) from (
                select node_id from " ~ work ~ " group by node_id having count(*) > 1
                union all
                select node_id from " ~ work ~ " where parent_id in (select node_id from " ~ work ~ ")
            ) as not_star").columns[0].values()[0] -%}
        {%- if not_star == 0 -%}
            {%- set state.converged = true -%}
            {%- break -%}
        {%- endif -%}
        {%- if round == max_rounds -%}{%- break -%}{%- endif -%}

        {#- Large-star: each neighbour larger than a node links to the smallest id of the node's
            neighbourhood (the node included). -#}
        {%- do siyu.cluster_work_step(work, large_star, "
            with neighbours as (
                select node_id, parent_id as neighbour_id from " ~ work ~ "
                union all
                select parent_id as node_id, node_id as neighbour_id from " ~ work ~ "
            ),
            smallest as (
                select node_id, least(node_id, min(neighbour_id)) as smallest_id
                from neighbours
                group by node_id
            )
            select distinct neighbours.neighbour_id as node_id, smallest.smallest_id as parent_id
            from neighbours
            inner join smallest on neighbours.node_id = smallest.node_id
            where neighbours.neighbour_id > neighbours.node_id") -%}

        {#- Small-star: a node and its smaller neighbours link to the smallest of those. -#}
        {%- do siyu.cluster_work_step(large_star, work, "
            with smallest as (
                select node_id, min(parent_id) as smallest_id
                from " ~ large_star ~ "
                group by node_id
            )
            select large_star.parent_id as node_id, smallest.smallest_id as parent_id
            from " ~ large_star ~ " as large_star
            inner join smallest on large_star.node_id = smallest.node_id
            where large_star.parent_id != smallest.smallest_id
            union
            select node_id, smallest_id as parent_id from smallest") -%}
        {%- set state.rounds = round + 1 -%}
    {%- endfor -%}

    {%- if not state.converged -%}
        {%- do siyu.drop_cluster_work_tables() -%}
        {%- do exceptions.raise_compiler_error(
            "identity clustering did not converge in " ~ max_rounds ~ " rounds (var identity_cluster_max_rounds)") -%}
    {%- endif -%}
    {{ log("identity clustering: converged in " ~ state.rounds ~ " rounds of large-star/small-star", info=True) }}
    {{ return('') }}
{% endmacro %}
