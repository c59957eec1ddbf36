"""Ingestion: what each DAG task does, as plain functions over connectors and the lake."""
