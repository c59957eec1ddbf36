"""The product package holds only what runs in production: the world, the simulators, the replay, the demo
and the bench live in `siyu_sim`, and nothing a DAG runs imports them."""

from __future__ import annotations

import ast
from pathlib import Path

PRODUCT = Path(__file__).resolve().parents[1] / "plugins" / "siyu"
DAGS = Path(__file__).resolve().parents[1] / "dags"

# The CLI's harness commands (`siyu world`, `siyu sim`, `siyu demo`, `siyu airflow`) import the harness
# inside the command's function, so a production install never loads it.
LAZY_HARNESS_IMPORTS_ALLOWED = {PRODUCT / "cli.py"}


def _harness_imports(path: Path, top_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "siyu_sim":
            found.append(f"{path.name}:{node.lineno} from {node.module}")
        elif isinstance(node, ast.Import):
            found += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names if a.name.startswith("siyu_sim")]
    return found


def test_product_package_and_dags_do_not_import_the_harness():
    offenders = []
    for path in sorted([*PRODUCT.rglob("*.py"), *DAGS.glob("*.py")]):
        offenders += _harness_imports(path, top_level_only=path in LAZY_HARNESS_IMPORTS_ALLOWED)
    assert offenders == []


def test_harness_modules_are_not_left_in_the_product_package():
    assert not (PRODUCT / "sim").exists()
    assert not (PRODUCT / "world").exists()
    assert not (PRODUCT / "ingest" / "replay.py").exists()
    assert not (PRODUCT / "demo.py").exists()
    assert not (PRODUCT / "bench.py").exists()
