-- On Spark, clv_fits is a Python model dbt-spark cannot run (it submits Python only to Databricks): siyu.transform
-- runs models/segments/clv_fits.py itself between two dbt invocations, reading its inputs from Spark and writing
-- the table (siyu.spark_steps). This twin only claims the table for the models and tests downstream.
{{ config(materialized='python_step') }}
select 1 as written_by_siyu_spark_steps
