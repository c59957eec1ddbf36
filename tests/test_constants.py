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
