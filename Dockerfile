# siyu: one image for every Airflow component and the simulators, built from uv.lock.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/siyu/.venv \
    PATH=/opt/siyu/.venv/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/siyu/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    SIYU_LAKE_DIR=/data/lake \
    SIYU_DROP_DIR=/data/drops \
    SIYU_WAREHOUSE=/data/warehouse/siyu.duckdb \
    SIYU_EXPORTS_DIR=/data/exports

# Java 17 for Spark (SIYU_ENGINE=spark: the transform's local Spark, and the compose profile's master and worker).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv

WORKDIR /opt/siyu
# Installed packages compiled to bytecode once: every task is a new Python process, and compiling dbt,
# pandas and pyarrow's sources on each import cost about 3 s per process (issue 22).
ENV UV_COMPILE_BYTECODE=1
# Dependencies first (cached while only the code changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra postgres --no-install-project
COPY plugins ./plugins
COPY dags ./dags
COPY dbt_project ./dbt_project
RUN uv sync --frozen --no-dev --extra postgres \
    && useradd --create-home --uid 50000 airflow \
    && mkdir -p /data /opt/airflow \
    && chown -R airflow /data /opt/airflow /opt/siyu/dbt_project

USER airflow
EXPOSE 8080
ENTRYPOINT ["airflow"]
CMD ["version"]
