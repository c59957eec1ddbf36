"""The Spark settings are written in two places each, and must agree (issue 21): the profile's `spark` target
(dbt's local session) with siyu.warehouse.spark.conf (the session siyu starts when dbt has not), and the
profile's `spark_thrift` target with THRIFT_SETTINGS (the sessions siyu's readers open on a Thrift server).
A setting missing on one side makes the readers see another engine than dbt built on (a time zone, ANSI
casts, merged partition schemas)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from siyu.warehouse import spark

PROFILES = Path(__file__).resolve().parents[1] / "dbt_project" / "profiles.yml"
PADS = {"spark.siyu.pseudonym_ipad", "spark.siyu.pseudonym_opad"}


def _outputs(folder: Path) -> dict:
    """profiles.yml's outputs rendered as dbt renders them with no vars and no SIYU_ variables set."""
    environment = jinja2.Environment()
    environment.filters["as_number"] = int
    text = environment.from_string(PROFILES.read_text(encoding="utf-8")).render(
        var=lambda name, default=None: str(folder) if name == "spark_dir" else default,
        env_var=lambda name, default=None: default,
    )
    return yaml.safe_load(text)["siyu"]["outputs"]


def test_the_local_session_siyu_starts_is_the_one_dbt_starts(tmp_path, monkeypatch):
    for name in (
        "SIYU_SPARK_MASTER",
        "SIYU_SPARK_DRIVER_MEMORY",
        "SIYU_SPARK_SHUFFLE_PARTITIONS",
        "SIYU_SPARK_LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)
    profile = _outputs(tmp_path)["spark"]["server_side_parameters"]
    conf = spark.conf(tmp_path)
    assert set(profile) <= set(conf), sorted(set(profile) - set(conf))
    for name, value in profile.items():
        if name == "spark.driver.extraJavaOptions":  # siyu adds its quiet log4j configuration
            assert conf[name].startswith(str(value)), name
        else:
            assert conf[name] == str(value), name
    # dbt-spark forces ANSI mode off on every session it opens; siyu's own session must too.
    assert conf["spark.sql.ansi.enabled"] == "false"


def test_a_thrift_session_is_set_as_the_local_one(tmp_path):
    thrift = _outputs(tmp_path)["spark_thrift"]
    assert thrift["method"] == "thrift" and int(thrift["port"]) == 10000
    settings = thrift["server_side_parameters"]
    assert all(name.startswith("set:hiveconf:") for name in settings), "a Thrift server ignores other forms"
    settings = {name.removeprefix("set:hiveconf:"): str(value) for name, value in settings.items()}
    assert set(settings) - PADS == set(spark.THRIFT_SETTINGS)
    assert {name: settings[name] for name in spark.THRIFT_SETTINGS} == spark.THRIFT_SETTINGS
    conf = spark.conf(tmp_path)
    for name, value in spark.THRIFT_SETTINGS.items():
        assert conf[name] == value, name
    # The pads come from secret variables only (dbt keeps DBT_ENV_SECRET_ values out of logs and artifacts).
    source = PROFILES.read_text(encoding="utf-8")
    for pad in PADS:
        assert f'"set:hiveconf:{pad}": "{{{{ env_var(\'DBT_ENV_SECRET_SIYU_PSEUDONYM_{pad[-4:].upper()}\'' in source


def test_the_method_is_checked(monkeypatch):
    monkeypatch.setenv("SIYU_SPARK_METHOD", "odbc")
    try:
        spark.method()
    except spark.SparkUnavailable as error:
        assert "SIYU_SPARK_METHOD='odbc'" in str(error) and "session, thrift" in str(error)
    else:
        raise AssertionError("an unknown method was accepted")
    monkeypatch.setenv("SIYU_SPARK_METHOD", "Thrift")
    assert spark.target() == "spark_thrift"
    monkeypatch.delenv("SIYU_SPARK_METHOD")
    assert spark.target() == "spark"
