"""The dbt project's layering rules, read from the parsed manifest (issue 20, "One way to do each thing").

- One current-identity lookup: outside the identity chain no model reads the identity map (history rows
  included) nor builds '<id_type>:' || value keys; it joins int_customer_nodes (macro customer_node_is).
- Layers: staging is the only layer that calls source(); an int_ model reads only stg_, int_ models and
  seeds; a prep_ model (a step that reads marts to feed the marts beside it) feeds something and is kept
  out of the analysts' schemas.

One `dbt parse` per session into a temporary target path (the project's own target/ is left alone).
"""

from __future__ import annotations

import json
import os
import re

import pytest

from siyu.transform import PROJECT_DIR

# The identity chain: the models that build the identity map and the marts about identity itself.
IDENTITY_CHAIN = {
    "int_identifiers_observed",
    "int_customer_nodes",
    "customer_merges",
    "customer_identifiers",
    "identity_quality",
    "identity_excluded_values",
}
IDENTIFIER_TYPES = ("external_userid", "member_card", "phone", "yz_open_id", "unionid", "openid")
STRING_KEY = re.compile(r"'(" + "|".join(IDENTIFIER_TYPES) + r"):'\s*\|\|")


def in_identity_chain(name: str) -> bool:
    return name.startswith("int_identity_") or name in IDENTITY_CHAIN


@pytest.fixture(scope="session")
def manifest(tmp_path_factory) -> dict:
    from dbt.cli.main import dbtRunner

    target = tmp_path_factory.mktemp("rules-target")
    scratch = tmp_path_factory.mktemp("rules-warehouse")
    # Parsing renders profiles.yml and the sources' locations: point them at scratch paths.
    environ = {"SIYU_LAKE_DIR": str(scratch / "lake"), "SIYU_WAREHOUSE": str(scratch / "siyu.duckdb")}
    saved = {key: os.environ.get(key) for key in environ}
    os.environ.update(environ)
    try:
        result = dbtRunner().invoke(
            ["parse", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
             "--target-path", str(target), "--no-partial-parse", "--quiet"]
        )  # fmt: skip
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert result.success, result.exception
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))


def models(manifest: dict) -> dict[str, dict]:
    """Model nodes of this project by unique id."""
    return {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["package_name"] == "siyu"
    }


def parent_names(manifest: dict, unique_id: str) -> list[str]:
    """What a model reads: refs and sources, also those made inside the macros it calls."""
    return manifest["nodes"][unique_id]["depends_on"]["nodes"]


def test_only_the_identity_chain_reads_the_identity_map(manifest):
    offenders = sorted(
        node["name"]
        for unique_id, node in models(manifest).items()
        if "model.siyu.int_identity_map" in parent_names(manifest, unique_id) and not in_identity_chain(node["name"])
    )
    assert offenders == [], f"read int_customer_nodes (macro customer_node_is), not int_identity_map: {offenders}"


def test_no_model_outside_the_identity_chain_builds_identifier_keys():
    offenders = sorted(
        f"{path.relative_to(PROJECT_DIR)}: {match.group(0)}"
        for path in (PROJECT_DIR / "models").rglob("*.sql")
        if not in_identity_chain(path.stem)
        for match in STRING_KEY.finditer(path.read_text(encoding="utf-8"))
    )
    assert offenders == [], f"join int_customer_nodes with macro customer_node_is instead: {offenders}"


def test_intermediate_models_read_only_staging_intermediate_and_seeds(manifest):
    allowed = ("model.siyu.stg_", "model.siyu.int_", "seed.siyu.")
    offenders = sorted(
        f"{node['name']} <- {parent}"
        for unique_id, node in models(manifest).items()
        if node["name"].startswith("int_")
        for parent in parent_names(manifest, unique_id)
        if not parent.startswith(allowed)
    )
    assert offenders == [], f"an int_ model reading a mart or a source is a prep_ model (or a staging one): {offenders}"


def test_only_staging_calls_source(manifest):
    offenders = sorted(
        f"{node['name']} <- {parent}"
        for unique_id, node in models(manifest).items()
        if not node["name"].startswith("stg_")
        for parent in parent_names(manifest, unique_id)
        if parent.startswith("source.")
    )
    assert offenders == [], f"read sources through a stg_ model: {offenders}"


def test_every_prep_model_feeds_a_model_and_stays_out_of_the_analysts_schemas(manifest):
    prep = {unique_id: node for unique_id, node in models(manifest).items() if node["name"].startswith("prep_")}
    assert prep, "no prep_ model parsed"
    orphans = sorted(
        node["name"]
        for unique_id, node in prep.items()
        if not any(child.startswith("model.") for child in manifest["child_map"][unique_id])
    )
    assert orphans == [], f"a prep_ model feeds the marts beside it; these feed nothing: {orphans}"
    exposed = sorted(
        f"{node['name']} in {node['schema']}" for node in prep.values() if node["schema"] != "intermediate"
    )
    assert exposed == [], f"prep_ models belong in the intermediate schema: {exposed}"


def test_the_string_key_rule_recognises_a_key():
    """The key pattern finds the forms models wrote before the lookup (so an empty offender list means
    something), and not the lookup's own join."""
    assert STRING_KEY.search("on identity_map.node_key = 'external_userid:' || adds.external_userid")
    assert STRING_KEY.search("by_phone.node_key = 'phone:'||receipts.phone_e164")
    assert not STRING_KEY.search("on {{ siyu.customer_node_is('nodes', 'phone', 'receipts.phone_e164') }}")
    assert not STRING_KEY.search("'pos:' || receipts.receipt_id")
