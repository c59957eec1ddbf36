{#- Where the build reads from: siyu.transform.dbt_build passes each location as a var of the call (the
    process's environment is not touched); a plain `dbt` command falls back to the environment variables. -#}

{#- The raw lake (var lake_dir, else SIYU_LAKE_DIR). _sources.yml, where macros cannot be called, repeats
    this expression in its external_location. -#}
{% macro lake_dir() -%}
    {{ return(var('lake_dir', env_var('SIYU_LAKE_DIR', '../data/lake'))) }}
{%- endmacro %}

{#- The generated world's truth folder, '' when there is none (var truth_dir, else SIYU_TRUTH_DIR). -#}
{% macro truth_dir() -%}
    {{ return(var('truth_dir', env_var('SIYU_TRUTH_DIR', ''))) }}
{%- endmacro %}

{#- The privacy folder siyu.privacy keeps (var privacy_dir, else SIYU_PRIVACY_DIR, else privacy/ beside the
    lake, as siyu.pseudonyms.privacy_dir). -#}
{% macro privacy_dir() -%}
    {{ return(var('privacy_dir', env_var('SIYU_PRIVACY_DIR', siyu.lake_dir() ~ '/../privacy'))) }}
{%- endmacro %}
