"""Definitions written once (issue 20, "One way to do each thing"): a literal that defines something (a
pattern of the sources' data, a zone, a window) lives in siyu.config and the code imports it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Each definition's literal as written in siyu/config.py.
DEFINITIONS = {"store id pattern": 'r"S[0-9]{4}"'}


def test__definitions__each_literal_is_written_once_in_siyu_config():
    # GIVEN the product's Python: the siyu package and the DAGs
    files = [*(REPO / "plugins" / "siyu").rglob("*.py"), *(REPO / "dags").glob("*.py")]

    for name, literal in DEFINITIONS.items():
        # WHEN the definition's pattern (without its quoting) is searched for
        written = sorted(
            str(path.relative_to(REPO)) for path in files if literal[2:-1] in path.read_text(encoding="utf-8")
        )

        # THEN siyu/config.py alone writes it
        assert written == ["plugins/siyu/config.py"], name


def _dbt_defaults() -> dict:
    import yaml

    return yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]


def test__definitions__python_and_dbt_agree_where_both_need_one():
    # GIVEN definitions Python needs beside dbt: the placeholder phones (siyu.pseudonyms normalises phones as
    # staging does, to find an erased person's pseudonyms) and the strong identifier types (what an erasure
    # request may name)
    from siyu.privacy import ID_TYPES
    from siyu.pseudonyms import BLOCKED_PHONES

    defaults = _dbt_defaults()

    # THEN they are dbt_project.yml's: the placeholder phones, and the types the merge limits cover
    assert set(defaults["blocked_phones"]) == BLOCKED_PHONES
    assert set(defaults["identity_link_limits"]) == set(ID_TYPES)


def test__erasure_normalises_phones_with_the_brands_placeholder_list(tmp_path, monkeypatch):
    # GIVEN a brand whose settings replace the placeholder phones: its counter number is one, and
    # 13800000000 (a default placeholder) is a real customer's phone for this brand
    from siyu.pseudonyms import normalize_phone

    config = tmp_path / "siyu.yml"
    config.write_text('vars:\n  blocked_phones: ["13912345678"]\n', encoding="utf-8")
    monkeypatch.setenv("SIYU_CONFIG", str(config))

    # THEN an erasure request's phone is read as staging reads it under those settings
    assert normalize_phone("139-1234-5678") is None
    assert normalize_phone("13800000000") == "+8613800000000"
