{#- How a table of periods that an incremental run rewrites per key (customer_tags: delete+insert by source,
    customer and tag group) is materialized. DuckDB: incremental. Spark's Parquet tables can neither delete
    rows by key nor overwrite anything finer than a partition, so Spark rebuilds the table each run (a
    Delta or Iceberg table with dbt-spark's merge, deleting the keys' rows first, would make it incremental
    there too). -#}
{% macro keyed_history_materialization() %}{{ return(adapter.dispatch('keyed_history_materialization', 'siyu')()) }}{% endmacro %}
{% macro default__keyed_history_materialization() %}{{ return('incremental') }}{% endmacro %}
{% macro spark__keyed_history_materialization() %}{{ return('table') }}{% endmacro %}
