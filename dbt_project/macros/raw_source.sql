{#-
    A raw entity of the lake, as staging reads it: `source()` when the brand has the source that lands
    it (var `sources`: the drops wecom, shop, store; the dbt source's meta `lake_source`) and the entity
    has at least one published partition, else an empty relation with the entity's columns and types as
    declared in _sources.yml. A store-only brand has no raw/wecom nor raw/shop, and its staging models
    still build: zero rows, the columns they have when data exists. dbt sources are named by system
    (wecom.messages, the session archive, is landed by the store drop), so presence is asked of the drop.
    (docs/decisions.md "Brand shapes: absent sources".)
-#}
{% macro raw_source(source_name, table_name) %}
    {#- source() is called in every case, so lineage, docs and the parse-time dependency stay. -#}
    {%- set relation = source(source_name, table_name) -%}
    {#- At parse time, and in a unit test (where source() is the test's given rows), it is the source. -#}
    {%- if not execute or relation.is_cte -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set node = siyu.raw_source_node(source_name, table_name) -%}
    {%- set lake_source = node.meta.get('lake_source', source_name) -%}
    {%- if lake_source in var('sources') and siyu.raw_partitions_exist(lake_source, node.identifier) -%}
        {{ return(siyu.raw_relation(relation, lake_source, node.identifier)) }}
    {%- endif -%}
    {{ return(siyu.empty_raw_relation(source_name, table_name)) }}
{% endmacro %}

{#- The graph node of a declared source table (its meta, identifier and columns). -#}
{% macro raw_source_node(source_name, table_name) %}
    {{ return(graph.sources.values() | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name) | first) }}
{% endmacro %}

{#- The lake's published partitions of an entity: raw/<drop>/<entity>/dt=*/part-0.parquet, the layout
    the external_location of _sources.yml reads (crash leftovers `.dt=...tmp-*` are not partitions).
    <drop> is the source's meta lake_source, <entity> the table's identifier. -#}
{% macro raw_partitions_glob(lake_source, entity) -%}
    {{ siyu.lake_dir() }}/raw/{{ lake_source }}/{{ entity }}/dt=*/part-0.parquet
{%- endmacro %}

{#- True when the entity has at least one published partition, asked of the engine at execution time.
    Engine-specific (DuckDB's glob()): a second engine adds its own implementation here. -#}
{% macro raw_partitions_exist(lake_source, entity) %}
    {{ return(adapter.dispatch('raw_partitions_exist', 'siyu')(lake_source, entity)) }}
{% endmacro %}

{% macro default__raw_partitions_exist(lake_source, entity) %}
    {%- set pattern = siyu.raw_partitions_glob(lake_source, entity) | replace("'", "''") -%}
    {%- set found = run_query("select count(*) from glob('" ~ pattern ~ "')") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{% endmacro %}

{#- How a model reads an entity's published partitions. DuckDB: the source itself, whose external_location
    (_sources.yml) reads the files. Spark has no such location for a source: the entity's folder is read by
    path, where Spark discovers the `dt=` partitions as a date column and skips hidden names (`_manifest.json`,
    a crashed write's `.dt=...tmp-*`); partitions of differing schemas are merged by name
    (spark.sql.parquet.mergeSchema, profiles.yml), as DuckDB's union_by_name. -#}
{% macro raw_relation(relation, lake_source, entity) %}
    {{ return(adapter.dispatch('raw_relation', 'siyu')(relation, lake_source, entity)) }}
{% endmacro %}
{% macro default__raw_relation(relation, lake_source, entity) %}{{ return(relation) }}{% endmacro %}
{% macro spark__raw_relation(relation, lake_source, entity) %}
    {{ return("parquet.`" ~ siyu.lake_dir() ~ "/raw/" ~ lake_source ~ "/" ~ entity ~ "`") }}
{% endmacro %}

{#- Spark cannot list files in SQL: siyu.transform.dbt_build passes the entities with no partition yet as var
    `raw_entities_missing` (`drop/entity` names); a plain `dbt` command on Spark assumes every one exists. -#}
{% macro spark__raw_partitions_exist(lake_source, entity) %}
    {{ return((lake_source ~ '/' ~ entity) not in var('raw_entities_missing', [])) }}
{% endmacro %}

{#- Zero rows with the columns and data types _sources.yml declares for the entity (dt included). -#}
{% macro empty_raw_relation(source_name, table_name) %}
    {%- set node = siyu.raw_source_node(source_name, table_name) -%}
    {%- set columns = node.columns.values() | list -%}
    {%- if not columns or columns | rejectattr('data_type') | list -%}
        {{ exceptions.raise_compiler_error(
            "source " ~ source_name ~ "." ~ table_name ~ ": declare every raw column with its data_type in "
            ~ "_sources.yml, so the entity builds empty when the brand does not have it"
        ) }}
    {%- endif -%}
    {%- set select_list = [] -%}
    {%- for column in columns -%}
        {%- do select_list.append("cast(null as " ~ siyu.raw_data_type(column.data_type) ~ ") as "
            ~ adapter.quote(column.name)) -%}
    {%- endfor -%}
    {{ return("(select " ~ select_list | join(", ") ~ " where 1 = 0) as absent_" ~ table_name) }}
{% endmacro %}

{#- A _sources.yml data type (DuckDB's names) in the engine's own: Spark has no varchar without a length
    outside a table schema, and writes arrays as array<...>. -#}
{% macro raw_data_type(data_type) %}{{ return(adapter.dispatch('raw_data_type', 'siyu')(data_type)) }}{% endmacro %}
{% macro default__raw_data_type(data_type) %}{{ return(data_type) }}{% endmacro %}
{% macro spark__raw_data_type(data_type) %}
    {%- set spark_types = {'varchar': 'string', 'varchar[]': 'array<string>'} -%}
    {{ return(spark_types.get(data_type, data_type)) }}
{% endmacro %}
