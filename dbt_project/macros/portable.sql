{#-
    Engine-specific SQL lives only here, behind adapter.dispatch: a second engine (Spark) needs one
    implementation per macro. Defaults are DuckDB's.
-#}

{#- Unix seconds to a local timestamp without zone in the business time zone (var timezone; siyu's
    timestamps are local to the brand, so a cast to date is its business day), or in `time_zone` for a
    source that counts its days in a zone of its own (WeCom's daily statistics: Beijing days). -#}
{% macro from_unix_seconds(expression, time_zone=none) %}{{ return(adapter.dispatch('from_unix_seconds', 'siyu')(expression, time_zone or var('timezone'))) }}{% endmacro %}
{% macro default__from_unix_seconds(expression, time_zone) %}timezone('{{ time_zone }}', to_timestamp({{ expression }})){% endmacro %}
{#- Spark's timestamp_seconds is an instant; from_utc_timestamp shows it as wall-clock time in the zone (read
    with spark.sql.session.timeZone=UTC). -#}
{% macro spark__from_unix_seconds(expression, time_zone) %}from_utc_timestamp(timestamp_seconds({{ expression }}), '{{ time_zone }}'){% endmacro %}

{#- A local timestamp a source wrote in its own zone (Youzan's API writes Beijing time) as business-local
    time. The same zone compiles to the expression itself. -#}
{% macro from_source_local_time(expression, source_time_zone) %}
    {%- if source_time_zone == var('timezone') -%}{{ expression }}
    {%- else -%}{{ return(adapter.dispatch('from_source_local_time', 'siyu')(expression, source_time_zone, var('timezone'))) }}
    {%- endif -%}
{% endmacro %}
{% macro default__from_source_local_time(expression, source_time_zone, time_zone) %}timezone('{{ time_zone }}', timezone('{{ source_time_zone }}', {{ expression }})){% endmacro %}
{% macro spark__from_source_local_time(expression, source_time_zone, time_zone) %}from_utc_timestamp(to_utc_timestamp({{ expression }}, '{{ source_time_zone }}'), '{{ time_zone }}'){% endmacro %}

{#- Every match of a regular expression replaced. -#}
{% macro replace_all(expression, pattern, replacement) %}{{ return(adapter.dispatch('replace_all', 'siyu')(expression, pattern, replacement)) }}{% endmacro %}
{% macro default__replace_all(expression, pattern, replacement) %}regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g'){% endmacro %}
{% macro spark__replace_all(expression, pattern, replacement) %}regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}'){% endmacro %}

{#- True when the whole value matches a regular expression. -#}
{% macro full_match(expression, pattern) %}{{ return(adapter.dispatch('full_match', 'siyu')(expression, pattern)) }}{% endmacro %}
{% macro default__full_match(expression, pattern) %}regexp_full_match({{ expression }}, '{{ pattern }}'){% endmacro %}
{% macro spark__full_match(expression, pattern) %}({{ expression }} rlike '^{{ pattern }}$'){% endmacro %}

{#- One row per element of an array column, in a select list. -#}
{% macro explode(expression) %}{{ return(adapter.dispatch('explode', 'siyu')(expression)) }}{% endmacro %}
{% macro default__explode(expression) %}unnest({{ expression }}){% endmacro %}
{% macro spark__explode(expression) %}explode({{ expression }}){% endmacro %}

{#- One row per element of an array, and one row with null for an empty or null array (explode keeps none). -#}
{% macro explode_outer(expression) %}{{ return(adapter.dispatch('explode_outer', 'siyu')(expression)) }}{% endmacro %}
{% macro default__explode_outer(expression) -%}
    unnest(case when len(coalesce({{ expression }}, [])) = 0 then [null] else {{ expression }} end)
{%- endmacro %}
{% macro spark__explode_outer(expression) %}explode_outer({{ expression }}){% endmacro %}

{#- A keyed pseudonym for personal identifiers leaving the raw layer: hex HMAC-SHA256 under siyu's secret key
    (siyu.pseudonyms; docs/privacy.md), H((K ^ opad) || H((K ^ ipad) || m)). The pads never appear in compiled
    SQL: DuckDB reads them from variables the dbt-duckdb plugin siyu.pseudonyms sets on every connection, and
    without them the query fails instead of hashing without the key. -#}
{% macro hash_identifier(expression) %}{{ return(adapter.dispatch('hash_identifier', 'siyu')(expression)) }}{% endmacro %}
{% macro default__hash_identifier(expression) -%}
    case
        when getvariable('siyu_pseudonym_opad') is null
            then error('siyu: no pseudonym key (profiles.yml plugin siyu.pseudonyms)')
        else sha256(
            getvariable('siyu_pseudonym_opad')
            || unhex(sha256(getvariable('siyu_pseudonym_ipad') || encode(cast({{ expression }} as varchar))))
        )
    end
{%- endmacro %}
{#- Spark: the pads are session settings (spark.siyu.pseudonym_ipad / _opad, hex) that siyu.transform sets on
    the Spark session before dbt runs and Spark substitutes into the statement when it runs
    (spark.sql.variable.substitute), so they are not in dbt's compiled SQL; without them the statement
    fails instead of hashing without the key. -#}
{% macro spark__hash_identifier(expression) -%}
    case
        when length('${spark.siyu.pseudonym_opad}') <> 128
            then raise_error('siyu: no pseudonym key on the Spark session (siyu.transform sets it)')
        else sha2(concat(unhex('${spark.siyu.pseudonym_opad}'),
            unhex(sha2(concat(unhex('${spark.siyu.pseudonym_ipad}'), cast({{ expression }} as binary)), 256))), 256)
    end
{%- endmacro %}

{#- A Parquet file as a relation, by path. -#}
{% macro read_parquet(path) %}{{ return(adapter.dispatch('read_parquet', 'siyu')(path)) }}{% endmacro %}
{% macro default__read_parquet(path) %}read_parquet('{{ path | replace("'", "''") }}'){% endmacro %}
{% macro spark__read_parquet(path) %}parquet.`{{ path }}`{% endmacro %}

{#- True when a file exists, asked of the engine at execution time. -#}
{% macro file_exists(path) %}{{ return(adapter.dispatch('file_exists', 'siyu')(path)) }}{% endmacro %}
{% macro default__file_exists(path) %}
    {%- set found = run_query("select count(*) from glob('" ~ (path | replace("'", "''")) ~ "')") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{% endmacro %}
{#- Spark cannot list files in SQL: siyu.transform.dbt_build passes the files that exist among those the
    build reads (var existing_files, absolute paths); a plain `dbt` command on Spark assumes they exist. -#}
{% macro spark__file_exists(path) %}
    {%- set existing = var('existing_files', none) -%}
    {{ return(existing is none or path in existing) }}
{% endmacro %}

{#- Integer division of two integers, rounded toward minus infinity as DuckDB's // (Spark's div truncates
    toward zero: the same for the non-negative values siyu divides, unix milliseconds). -#}
{% macro integer_divide(dividend, divisor) %}{{ return(adapter.dispatch('integer_divide', 'siyu')(dividend, divisor)) }}{% endmacro %}
{% macro default__integer_divide(dividend, divisor) %}({{ dividend }} // {{ divisor }}){% endmacro %}
{% macro spark__integer_divide(dividend, divisor) %}({{ dividend }} div {{ divisor }}){% endmacro %}

{#- The values of a group joined into one string in ascending order of the value itself. dbt.listagg's order
    by is ignored on Spark (dbt-spark warns and collects in any order), so Spark sorts the collected array. -#}
{% macro sorted_listagg(measure, delimiter_text="','") %}{{ return(adapter.dispatch('sorted_listagg', 'siyu')(measure, delimiter_text)) }}{% endmacro %}
{% macro default__sorted_listagg(measure, delimiter_text) %}{{ dbt.listagg(measure, delimiter_text, 'order by ' ~ measure) }}{% endmacro %}
{% macro spark__sorted_listagg(measure, delimiter_text) %}array_join(array_sort(collect_list({{ measure }})), {{ delimiter_text }}){% endmacro %}

{#- The incremental strategy of a model whose unique key is a whole partition (a day): DuckDB deletes the
    key's rows and inserts them again; Spark (dbt-spark) overwrites the partitions the run writes, which
    needs the model partitioned by that key (partition_by in its config, ignored on DuckDB). -#}
{% macro incremental_strategy() %}{{ return(adapter.dispatch('incremental_strategy', 'siyu')()) }}{% endmacro %}
{% macro default__incremental_strategy() %}{{ return('delete+insert') }}{% endmacro %}
{% macro spark__incremental_strategy() %}{{ return('insert_overwrite') }}{% endmacro %}

{#- The strategy of a model whose run computes its whole state, of which a day changes a few rows
    (int_identity_map): 'changed_rows' writes only the rows that differ from the stored ones
    (get_incremental_changed_rows_sql); Spark overwrites the table. -#}
{% macro changed_rows_strategy() %}{{ return(adapter.dispatch('changed_rows_strategy', 'siyu')()) }}{% endmacro %}
{% macro default__changed_rows_strategy() %}{{ return('changed_rows') }}{% endmacro %}
{% macro spark__changed_rows_strategy() %}{{ return('insert_overwrite') }}{% endmacro %}

{#- Incremental strategy 'changed_rows' (dbt finds a custom strategy's macro by this name): the model's rows
    that are not already stored as they are replace the stored rows of their keys, and nothing else is
    written. Rows the model no longer returns stay (as with delete+insert). Set operations compare nulls as
    equal. -#}
{% macro get_incremental_changed_rows_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    delete from {{ target }}
    where {{ key }} in (
        select {{ key }} from (
            select {{ columns }} from {{ source }}
            except
            select {{ columns }} from {{ target }}
        ) as changed
    );
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
    except
    select {{ columns }} from {{ target }}
{% endmacro %}

{#- The partition column insert_overwrite needs on Spark (the model's unique key); none on DuckDB, which
    partitions only DuckLake tables and warns otherwise. -#}
{% macro partition_by(column) %}{{ return(adapter.dispatch('partition_by', 'siyu')(column)) }}{% endmacro %}
{% macro default__partition_by(column) %}{{ return(none) }}{% endmacro %}
{% macro spark__partition_by(column) %}{{ return(column) }}{% endmacro %}

{#- A new customer's id derived from a key (int_identity_map): 'C' and the first 16 hex digits of the key's
    SHA-256, lower case. -#}
{% macro derived_customer_id(expression) %}{{ return(adapter.dispatch('derived_customer_id', 'siyu')(expression)) }}{% endmacro %}
{% macro default__derived_customer_id(expression) %}('C' || substr(sha256({{ expression }}), 1, 16)){% endmacro %}
{% macro spark__derived_customer_id(expression) %}concat('C', substr(sha2({{ expression }}, 256), 1, 16)){% endmacro %}

{#- The rows an incremental model stored before this run, as its SQL reads them. DuckDB reads the table
    itself. Spark cannot overwrite a table it reads in the same statement (insert_overwrite), so the rows are
    first copied to <model>__previous, which the model reads and its post-hook drops
    (drop_incremental_previous_rows). -#}
{% macro incremental_previous_rows(relation) %}{{ return(adapter.dispatch('incremental_previous_rows', 'siyu')(relation)) }}{% endmacro %}
{% macro default__incremental_previous_rows(relation) %}{{ return(relation) }}{% endmacro %}
{% macro spark__incremental_previous_rows(relation) %}
    {#- In a dbt unit test, `this` is the fixture's name, a string: read as given. -#}
    {%- if relation is string -%}{{ return(relation) }}{%- endif -%}
    {%- set copy = relation.incorporate(path={'identifier': relation.identifier ~ '__previous'}) -%}
    {%- if execute -%}
        {%- do run_query('drop table if exists ' ~ copy) -%}
        {%- do run_query('create table ' ~ copy ~ ' using parquet as select * from ' ~ relation) -%}
    {%- endif -%}
    {{ return(copy) }}
{% endmacro %}

{#- Drops the copy incremental_previous_rows made (a post-hook; nothing on DuckDB). -#}
{% macro drop_incremental_previous_rows(relation) %}{{ return(adapter.dispatch('drop_incremental_previous_rows', 'siyu')(relation)) }}{% endmacro %}
{% macro default__drop_incremental_previous_rows(relation) %}{{ return('') }}{% endmacro %}
{% macro spark__drop_incremental_previous_rows(relation) %}
    {%- if relation is string -%}{{ return('') }}{%- endif -%}
    {{ return('drop table if exists ' ~ relation.incorporate(path={'identifier': relation.identifier ~ '__previous'})) }}
{% endmacro %}

{#- A number from a tag row (customer, tag group, tag), summed per day to tell whether a day's tags changed
    (customer_tags): the engine's hash of the three values, reduced below 1e9+7 so that sums over millions
    of rows fit a bigint. -#}
{% macro tag_checksum(customer_id, tag_group, tag) %}{{ return(adapter.dispatch('tag_checksum', 'siyu')(customer_id, tag_group, tag)) }}{% endmacro %}
{% macro default__tag_checksum(customer_id, tag_group, tag) -%}
    cast(hash({{ customer_id }}, {{ tag_group }}, cast({{ tag }} as {{ dbt.type_string() }})) % 1000000007 as bigint)
{%- endmacro %}
{% macro spark__tag_checksum(customer_id, tag_group, tag) -%}
    pmod(xxhash64({{ customer_id }}, {{ tag_group }}, cast({{ tag }} as {{ dbt.type_string() }})), 1000000007)
{%- endmacro %}
