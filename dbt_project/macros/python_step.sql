{#- The materialization of a Spark twin of a Python model (models/**/spark/): siyu.spark_steps wrote the
    table before this dbt invocation, so nothing is built; a missing table fails naming the step. -#}
{% materialization python_step, default %}
    {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
    {%- if existing is none -%}
        {{ exceptions.raise_compiler_error(
            this.identifier ~ " is written by siyu's Spark step (siyu.spark_steps), which has not run: build with "
            ~ "`siyu build` or siyu.transform.dbt_build, not a plain `dbt build`, on Spark"
        ) }}
    {%- endif -%}
    {% call statement('main') -%}
        select 1
    {%- endcall %}
    {{ return({'relations': [existing]}) }}
{% endmaterialization %}
