"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the services, image, build
context, environment and volumes the stack needs, and commands that exist in the Airflow and siyu we
lock."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def test_the_stack_has_every_airflow_component_on_postgres(compose):
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"postgres", "simulators", "spark-master", "spark-worker", "spark-thrift"} == set(
        services
    )
    assert services["postgres"]["image"].startswith("postgres:")
    assert "healthcheck" in services["postgres"]
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        assert service["image"] == "siyu:latest"
        env = service["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/siyu/dags"
        assert "postgres" in service["depends_on"]
    # Everyone but the init waits for the migration.
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert compose["services"][name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert services["airflow-api-server"]["ports"] == ["8080:8080"]
    assert services["simulators"]["profiles"] == ["simulators"]


def test_data_lives_in_volumes_the_environment_points_at(compose):
    declared = set(compose["volumes"])
    assert {"postgres", "lake", "drops", "warehouse", "exports", "world"} <= declared
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        mounts = dict(volume.split(":") for volume in service["volumes"])
        assert set(mounts) <= declared
        env = service["environment"]
        for variable, volume in (
            ("SIYU_LAKE_DIR", "lake"),
            ("SIYU_DROP_DIR", "drops"),
            ("SIYU_EXPORTS_DIR", "exports"),
        ):
            assert env[variable] == mounts[volume], variable
        assert Path(env["SIYU_WAREHOUSE"]).parent == Path(mounts["warehouse"])


def test_no_secret_is_written_in_the_file(compose):
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    keys = list(re.finditer(r"^\s*[A-Z_]*(PASSWORD|SECRET|FERNET_KEY):\s*(\S+)", text, re.M))
    assert len(keys) >= 3
    for match in keys:
        assert match.group(2).startswith("${"), match.group(0)
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW_CONN_WECOM_DEFAULT"].startswith("${")


def test_commands_exist_in_the_locked_airflow_and_siyu(compose):
    for name in AIRFLOW_SERVICES:
        command = compose["services"][name]["command"]
        args = [arg for arg in command if not arg.startswith("--")][:2]
        result = subprocess.run([str(BIN / "airflow"), *args, "--help"], capture_output=True, text=True)
        assert result.returncode == 0, (name, result.stderr[-500:])
    script = compose["services"]["simulators"]["command"][0]
    serve = subprocess.run([str(BIN / "siyu"), "sim", "serve", "--help"], capture_output=True, text=True, check=True)
    for flag in re.findall(r"--[a-z-]+", script.split("exec siyu sim serve", 1)[1]):
        assert flag in serve.stdout, flag
    generate = subprocess.run([str(BIN / "siyu"), "world", "generate", "--help"], capture_output=True, text=True)
    for flag in re.findall(r"--[a-z-]+", script.split(";", 1)[0]):
        assert flag in generate.stdout, flag


def test_the_spark_profile_runs_pyspark_spark_on_shared_volumes(compose):
    """The Spark profile's master and worker run the siyu image's own Spark (pyspark's spark-class, the same
    version the driver in the Airflow task has); the worker's executors read the lake and write the tables
    at the paths the driver names, so it mounts the same volumes at the same places."""
    services = compose["services"]
    for name in ("spark-master", "spark-worker"):
        service = services[name]
        assert service["profiles"] == ["spark"] and service["image"] == "siyu:latest"
        assert service["entrypoint"][0] == "spark-class"
        assert (BIN / "spark-class").exists()
    assert services["spark-worker"]["entrypoint"][2] == "spark://spark-master:7077"
    scheduler = services["airflow-scheduler"]
    assert scheduler["environment"]["SIYU_ENGINE"] == "${SIYU_ENGINE:-duckdb}"
    worker_mounts = set(services["spark-worker"]["volumes"])
    assert {"lake:/data/lake", "warehouse:/data/warehouse"} <= worker_mounts <= set(scheduler["volumes"])
    assert scheduler["environment"]["SIYU_SPARK_DIR"].startswith("/data/warehouse/")
    assert "openjdk-17-jre-headless" in (REPO / "Dockerfile").read_text(encoding="utf-8")


def test_the_dockerfile_builds_from_the_lock():
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    assert "COPY pyproject.toml uv.lock" in dockerfile
    syncs = re.findall(r"uv sync ([^\n\\]*)", dockerfile)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)
    for folder in ("plugins", "dags", "dbt_project"):
        assert f"COPY {folder} ./{folder}" in dockerfile
        assert (REPO / folder).is_dir()
    extras = set(re.findall(r"--extra (\w+)", dockerfile))
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert extras <= set(project["optional-dependencies"])
    lock = (REPO / "uv.lock").read_text(encoding="utf-8")
    assert 'name = "apache-airflow-providers-postgres"' in lock and 'name = "psycopg2-binary"' in lock
    assert re.search(r"^ENTRYPOINT \[\"airflow\"\]", dockerfile, re.M)
    assert "USER airflow" in dockerfile


def test_the_spark_profile_runs_a_thrift_server_the_transform_can_point_at(compose):
    """`spark-thrift` is pyspark's own HiveThriftServer2 (its jar ships in the siyu image's pyspark) on the
    compose master, answering synchronously on the port the Airflow services' SIYU_SPARK_THRIFT_PORT names,
    with the lake and warehouse at the paths the transform passes; the Airflow services default to the
    session method and name this service as the Thrift host."""
    services = compose["services"]
    thrift = services["spark-thrift"]
    assert thrift["profiles"] == ["spark"] and thrift["image"] == "siyu:latest"
    command = thrift["entrypoint"]
    assert command[0] == "spark-submit" and (BIN / "spark-submit").exists()
    assert command[command.index("--class") + 1] == "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
    assert command[command.index("--master") + 1] == "spark://spark-master:7077" and command[-1] == "spark-internal"
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    assert list(jars.glob("spark-hive-thriftserver_*.jar")), "pyspark ships no Thrift server"
    confs = dict(command[i + 1].split("=", 1) for i, part in enumerate(command) if part == "--conf")
    assert confs["spark.sql.hive.thriftServer.async"] == "false"
    scheduler = services["airflow-scheduler"]["environment"]
    assert (
        confs["spark.hadoop.hive.server2.thrift.port"]
        == "10000"
        == scheduler["SIYU_SPARK_THRIFT_PORT"].split("-")[-1].rstrip("}")
    )
    assert scheduler["SIYU_SPARK_THRIFT_HOST"] == "${SIYU_SPARK_THRIFT_HOST:-spark-thrift}"
    assert scheduler["SIYU_SPARK_METHOD"] == "${SIYU_SPARK_METHOD:-session}"
    assert confs["spark.sql.warehouse.dir"].startswith(scheduler["SIYU_SPARK_DIR"])
    assert {"lake:/data/lake", "warehouse:/data/warehouse"} <= set(thrift["volumes"])
