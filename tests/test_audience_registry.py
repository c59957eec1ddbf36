"""The audience registry (dbt_project/seeds/audience_registry.csv) is the one list of audiences: the dbt
models, their descriptions, the exposures, siyu.orchestration.AUDIENCES, the Assets and the activation DAG
all name the same audiences, the candidate model takes its priorities and channel rules from it, and every
audience has a unit test of its rule. Not an integration test: one `dbt parse` (about 15 s) into a temporary
target path, and the two DAG files parsed."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "dbt_project"
REGISTRY = PROJECT / "seeds" / "audience_registry.csv"
CANDIDATES = "model.siyu.prep_audience_candidates"


@pytest.fixture(scope="module")
def registry() -> list[dict[str, str]]:
    with open(REGISTRY, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def names(registry) -> list[str]:
    return [row["audience"] for row in registry]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    target = tmp_path_factory.mktemp("dbt-target")
    env = {
        **os.environ,
        "SIYU_LAKE_DIR": str(target / "lake"),
        "SIYU_WAREHOUSE": str(target / "siyu.duckdb"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [
            *(str(dbt), "parse", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)),
            *("--target-path", str(target), "--no-partial-parse", "--quiet"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))


def test_the_registry_names_each_audience_once_with_a_priority_and_a_channel_rule(registry, names):
    assert names, "the registry lists audiences"
    assert len(set(names)) == len(names), "an audience named twice"
    priorities = [int(row["priority"]) for row in registry]
    assert len(set(priorities)) == len(priorities), "two audiences share a priority: the tie would be broken by name"
    assert {row["channel_rule"] for row in registry} <= {"wecom_1v1_or_group", "wecom_1v1"}
    assert all(row["description"].strip() for row in registry)


def test_each_audience_has_one_published_table_described_as_in_the_registry(manifest, registry, names):
    tables = {
        node["name"].removeprefix("aud_"): node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["name"].startswith("aud_")
    }
    assert sorted(tables) == sorted(names)
    for row in registry:
        table = tables[row["audience"]]
        assert table["schema"] == "audiences"
        assert table["description"] == f"Audience {row['audience']}: {row['description']}"


def test_each_audience_has_one_activation_exposure(manifest, names):
    exposed = {}
    for exposure in manifest["exposures"].values():
        audiences = [n.removeprefix("model.siyu.aud_") for n in exposure["depends_on"]["nodes"] if ".aud_" in n]
        if audiences:
            assert exposure["name"] == f"activation_{audiences[0]}" and len(audiences) == 1, exposure["name"]
            exposed[audiences[0]] = exposure["name"]
    assert sorted(exposed) == sorted(names)


def test_python_reads_the_same_audiences(names):
    from siyu.activation import AUDIENCE_ZH
    from siyu.orchestration import AUDIENCES, audience_assets, export_assets

    assert tuple(names) == AUDIENCES
    # The guide-facing export names each audience in Chinese, with a reason a guide can read.
    assert sorted(AUDIENCE_ZH) == sorted(names)
    assert all(label.strip() and reason.strip() for label, reason in AUDIENCE_ZH.values()), AUDIENCE_ZH
    assert [asset.uri for asset in audience_assets()] == [f"siyu://warehouse/audiences/aud_{n}" for n in names]
    assert [asset.uri for asset in export_assets()] == [f"siyu://exports/{n}" for n in names]


def test_the_dags_schedule_on_and_publish_every_audience(names):
    from airflow.dag_processing.dagbag import DagBag

    audience_uris = {f"siyu://warehouse/audiences/aud_{n}" for n in names}
    activate = DagBag(str(REPO / "dags" / "activate_audiences.py"))
    assert activate.import_errors == {}
    dag = activate.dags["activate_audiences"]
    # Scheduled on all of them (AssetAll): a new audience's table triggers activation like the others.
    scheduled = {asset.uri for asset in dag.timetable.asset_condition.objects}
    assert scheduled == audience_uris
    assert {asset.uri for asset in dag.get_task("publish").outlets} == {f"siyu://exports/{n}" for n in names}
    transform = DagBag(str(REPO / "dags" / "transform.py"))
    assert transform.import_errors == {}
    published = {asset.uri for asset in transform.dags["transform"].get_task("publish").outlets}
    assert {uri for uri in published if uri.startswith("siyu://warehouse/audiences/")} == audience_uris


def test_the_candidate_model_takes_priorities_and_channels_from_the_registry(manifest, names):
    candidates = manifest["nodes"][CANDIDATES]
    assert "seed.siyu.audience_registry" in candidates["depends_on"]["nodes"]
    # No second list of priorities: the var the registry replaced is gone from the project and the models.
    project = yaml.safe_load((PROJECT / "dbt_project.yml").read_text(encoding="utf-8"))
    assert "audience_priorities" not in project["vars"]
    assert not [n["name"] for n in manifest["nodes"].values() if "audience_priorities" in n.get("raw_code", "")]
    # Each rule of the model names an audience of the registry, and each audience has a rule.
    rules = candidates["raw_code"].split("rules as (", 1)[1].split("\n),", 1)[0]
    ruled = re.findall(r"customer_id,\s*'([a-z0-9_]+)'", rules)
    assert sorted(ruled) == sorted(names)


def test_every_audience_has_a_unit_test_of_its_rule(manifest, names):
    tested = set()
    for unit_test in manifest["unit_tests"].values():
        if unit_test["model"] == "prep_audience_candidates":
            tested |= {row.get("audience") for row in unit_test["expect"]["rows"] or []}
    assert sorted(set(names) - tested) == [], "audiences whose rule no unit test expects"


def test_the_guide_reads_the_milestones_the_brand_set():
    # GIVEN a brand whose milestones are the 2nd and 4th orders: the rules' English reasons say so
    from siyu.activation import label_zh, reason_zh

    reason = "1 orders, active: push to 2 (2单)"

    # THEN the guide-facing name and reason carry the same numbers, not the default 3 and 5
    assert label_zh("order_push_3", reason) == "推第2单"
    assert reason_zh("order_push_3", reason) == "已下1单，仍然活跃：推动第2单"
    assert label_zh("order_push_5", "3 orders, active: push to 4 (4单)") == "推第4单"
    assert reason_zh("vip_care", "top 10% of buyers by net spend") == "净消费排名前 10% 的客户"


@pytest.mark.parametrize("milestones", ["[5, 3]", "[2, 4, 6]", "[1, 3]", "'3,5'"])
def test_order_milestones_the_rules_cannot_use_are_refused_by_name(milestones, tmp_path):
    # GIVEN order_milestones that are not two ascending counts from 2 (the rules push to each)
    dbt = str(Path(sys.executable).parent / "dbt")
    project = Path(__file__).resolve().parents[1] / "dbt_project"
    result = subprocess.run(
        [
            *[dbt, "compile", "--select", "prep_audience_candidates customer_segments_daily"],
            *["--vars", f"{{order_milestones: {milestones}}}", "--project-dir", str(project)],
            *["--profiles-dir", str(project), "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path)],
        ],
        env={**os.environ, "SIYU_LAKE_DIR": str(tmp_path / "lake"), "SIYU_WAREHOUSE": str(tmp_path / "wh.duckdb")},
        capture_output=True,
        text=True,
    )
    # THEN compiling fails and says what the var must be
    assert result.returncode != 0
    assert "var order_milestones must be two order counts, ascending, the first at least 2" in result.stdout
