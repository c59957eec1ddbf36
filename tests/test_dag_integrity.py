"""Every DAG file imports cleanly and follows the house rules: tags, retries, explicit catchup,
documentation, and nothing heavy imported at parse time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[1] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


def test_dags_import_without_errors(dagbag):
    """Every DAG file in dags/ imports and yields its DAG (named as the file): a file that fails to import,
    or a new file whose DAG never registers, fails here."""
    assert len(DAG_FILES) >= 6
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {path.stem for path in DAG_FILES}
    assert {Path(dag.fileloc) for dag in dagbag.dags.values()} == set(DAG_FILES)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_one_dag_per_file_following_the_rules(dagbag, path):
    dags = [dag for dag in dagbag.dags.values() if Path(dag.fileloc) == path]
    assert len(dags) == 1, "one DAG per file"
    dag = dags[0]
    assert dag.dag_id == path.stem
    assert "siyu" in dag.tags and len(dag.tags) >= 2
    assert dag.catchup is False
    assert dag.doc_md and dag.doc_md.strip().startswith("###")
    assert dag.max_active_runs == 1
    for task in dag.tasks:
        assert task.retries >= 2, f"{task.task_id} retries"
    assert dag.tasks[-1].task_id == "publish" or any(t.task_id == "publish" for t in dag.tasks)
    publish = dag.get_task("publish")
    assert publish.outlets, "publish emits Assets"
    assert not publish.downstream_list


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_parsing_does_not_import_heavy_libraries(path):
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "heavy = [m for m in ('great_expectations', 'pyarrow', 'pandas', 'duckdb') if m in sys.modules]; "
        "print('HEAVY:' + ','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    heavy = [line for line in result.stdout.splitlines() if line.startswith("HEAVY:")]
    assert heavy == ["HEAVY:"], heavy
