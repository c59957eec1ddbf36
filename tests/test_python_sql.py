"""No SQL in Python outside the warehouse interface, and exposures that say what each consumer reads
(issue 20: "One way to do each thing").

Everything in Python that reads the warehouse reads whole models through siyu.warehouse; any shaping
beyond a trivial pandas step is a dbt model (models/reports). The first test reads every Python file of
the product (plugins/siyu, dags) and of the harness (plugins/siyu_sim, but the bench) with `ast` and fails
on a string that is a SQL statement. The second checks each exposure in models/reports/_exposures.yml
against the tuple of models its consumer's code reads.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# A string is SQL when it opens (or opens a parenthesis, a statement or a line) with a statement keyword
# followed by a name, `*` or `(`, and goes on to a keyword that statement needs. Prose like "a CSV with a
# BOM (Excel opens it as is)" or "update: 3 rows from ..." does not; "select max(day) from marts.x" and
# "create table if not exists ..." do.
SQL = re.compile(
    r"(?:^|[(;\n])\s*(select|insert|delete|update|create|copy|attach|with|drop|alter|merge)\s+(?=[\w*(\"])"
    r".*\b(from|into|table|set|as|view|schema|database)\b",
    re.IGNORECASE | re.DOTALL,
)
# The one statement a consumer may hold: a whole model, by a name the code fills in.
WHOLE_MODEL = re.compile(r"^\s*select \* from [\w.{}\"]+\s*$", re.IGNORECASE)

# The interface: the only product package allowed to hold SQL (it runs `select * from` and the few
# writes siyu keeps outside dbt; maintenance.py: erasure and compaction).
INTERFACE = "plugins/siyu/warehouse/"
# The bench measures DuckDB itself (issue 20: "outside the bench").
BENCH = "plugins/siyu_sim/bench.py"


def python_files() -> list[Path]:
    files = [*REPO.glob("plugins/siyu/**/*.py"), *REPO.glob("plugins/siyu_sim/**/*.py"), *REPO.glob("dags/*.py")]
    return sorted(path for path in files if not exempt(path.relative_to(REPO).as_posix()))


def exempt(relative: str) -> bool:
    return relative.startswith(INTERFACE) or relative == BENCH


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the module's, classes' and functions' docstrings: prose about SQL is not SQL."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def help_texts(tree: ast.AST) -> set[int]:
    """ids of argparse help texts (`help=` keywords): a command's help may quote an example query."""
    return {
        id(keyword.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "help"
    }


def text_of(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with `{}` where it fills in values; a `+` of strings joined."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = text_of(node.left), text_of(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def sql_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string in the source that is SQL other than `select * from <model>`."""
    tree = ast.parse(source)
    skipped = docstrings(tree) | help_texts(tree)
    inner: set[int] = set()  # parts of an f-string or a `+` already read as a whole
    found = []
    for node in ast.walk(tree):
        if id(node) in inner or id(node) in skipped:
            continue
        text = text_of(node)
        if text is None:
            continue
        inner |= {id(child) for child in ast.walk(node) if child is not node}
        if SQL.search(text) and not WHOLE_MODEL.match(text):
            found.append((node.lineno, " ".join(text.split())[:120]))
    return found


def test_the_scan_finds_sql_and_lets_prose_and_whole_model_reads_pass():
    """The rule itself: statements in any form are found, prose and `select * from` are not."""
    caught = sql_strings(
        'con.sql("select channel, count(*) from marts.fct_orders group by 1")\n'
        'con.execute(f"delete from {table} where sent_on = ?", [day])\n'
        'con.execute("create table if not exists activation.sends " + "(customer_id varchar)")\n'
        'query = """\n    with paid as (select * from marts.fct_orders) select * from paid"""\n'
        'con.sql("select coalesce((select max(computed_on) from audiences.audience_assignments), null)")\n'
    )
    assert sorted(line for line, _text in caught) == [1, 2, 3, 4, 6]
    passed = sql_strings(
        '"""Reads marts: select the rows from each model as it is."""\n'
        'con.sql(f"select * from {relation}")\n'
        'note = " Tables download as UTF-8 CSV with a BOM (Excel opens Chinese as is)."\n'
        'parser.add_argument("query", help=\'SQL, e.g. "select * from marts.kpi_triangle limit 5"\')\n'
        'log.info("update: %d rows from %s into the lake", rows, source)\n'
    )
    assert passed == []


@pytest.mark.parametrize("path", python_files(), ids=lambda path: path.relative_to(REPO).as_posix())
def test_no_sql_in_python_outside_the_warehouse_interface(path):
    """GIVEN a Python file of siyu outside siyu.warehouse THEN it holds no SQL beyond `select * from`:
    a read is siyu.warehouse's `read(model)`, a shape it needs is a dbt model (models/reports)."""
    found = sql_strings(path.read_text(encoding="utf-8"))
    assert not found, "SQL in Python (move it into a dbt model or siyu.warehouse):\n" + "\n".join(
        f"  {path.relative_to(REPO)}:{line}: {text}" for line, text in found
    )


def exposures() -> dict[str, set[str]]:
    """exposure name → the models its depends_on lists, from every yml under models."""
    found = {}
    for path in (REPO / "dbt_project" / "models").rglob("*.yml"):
        for exposure in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("exposures") or []:
            refs = [re.fullmatch(r"ref\('([\w]+)'\)", item) for item in exposure.get("depends_on", [])]
            assert all(refs), (exposure["name"], exposure.get("depends_on"))
            found[exposure["name"]] = {ref.group(1) for ref in refs}
    return found


def consumers() -> dict[str, tuple[str, ...]]:
    """exposure name → the tuple of models the consumer's code reads (the very tuple it passes to
    siyu.warehouse.read_models, so a model it reads but does not declare fails at run time)."""
    from siyu_sim.demo import SUMMARY_MODELS

    from siyu.identity_report import MODELS as IDENTITY_REPORT_MODELS
    from siyu.report.marts import MODELS as REPORT_MODELS

    return {
        "analyst_report": REPORT_MODELS,
        "identity_report": IDENTITY_REPORT_MODELS,
        "demo_summary": SUMMARY_MODELS,
    }


@pytest.mark.parametrize("exposure", ["analyst_report", "identity_report", "demo_summary"])
def test_each_exposure_lists_exactly_what_its_consumer_reads(exposure):
    """GIVEN a consumer of the warehouse outside dbt THEN its exposure's depends_on is the set of models
    its code reads: nothing it reads is missing (dbt docs would hide the dependency), nothing listed is
    left unread (the lineage would lie)."""
    declared = consumers()[exposure]
    listed = exposures()[exposure]
    assert len(set(declared)) == len(declared), f"{exposure}: a model is declared twice"
    assert set(declared) - listed == set(), f"{exposure}: read but not in the exposure"
    assert listed - set(declared) == set(), f"{exposure}: in the exposure but not read"


def test_each_activation_exposure_lists_what_activation_reads_for_its_audience():
    """GIVEN siyu.activation's declared models THEN each audience's activation exposure lists its own
    audience, every model activation reads for all audiences (suppressions, names, as-of day, tags), and
    audience_membership_changes (which the activation tool syncs from), and nothing else."""
    from siyu.activation import AUDIENCE_MODELS, MODELS
    from siyu.orchestration import AUDIENCES

    shared = set(MODELS) - set(AUDIENCE_MODELS)
    listed = exposures()
    for audience in AUDIENCES:
        expected = {f"aud_{audience}", "audience_membership_changes"} | shared
        assert listed[f"activation_{audience}"] == expected, audience


CONSUMER_FILES = {
    "analyst_report": ["plugins/siyu/report/marts.py", "plugins/siyu/report/tables.py"],
    "identity_report": ["plugins/siyu/identity_report.py"],
    "demo_summary": ["plugins/siyu_sim/demo.py"],
}


@pytest.mark.parametrize("exposure", sorted(CONSUMER_FILES))
def test_a_consumer_names_only_models_it_declares(exposure):
    """Every model name a consumer's code writes as a literal (`frames["kpi_triangle"]`,
    `wh.read("identity_quality")`) is one of its declared models: no read slips past the tuple."""
    declared = set(consumers()[exposure])
    every_model = {path.stem for path in (REPO / "dbt_project").glob("models/**/*.sql")} | {
        path.stem for path in (REPO / "dbt_project").glob("seeds/*.csv")
    }
    named = set()
    for relative in CONSUMER_FILES[exposure]:
        for node in ast.walk(ast.parse((REPO / relative).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in every_model:
                named.add(node.value)
    assert named - declared == set(), f"{exposure}: names models it does not declare"


def test_the_warehouse_reads_whole_models_by_name_and_replaces_one_partition(tmp_path):
    """GIVEN a DuckDB warehouse WHEN a consumer reads and activation records a day's sends THEN a model is
    found by its name in whichever schema holds it, anything but a name is refused before it reaches
    SQL, and replacing a day's partition leaves the other days as they were."""
    from datetime import date

    import duckdb
    import pandas as pd

    from siyu.warehouse import MissingModel, open_warehouse, read_models

    path = tmp_path / "siyu.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create table marts.identity_quality as select 7 as customers")
        con.execute("create schema activation")
        con.execute("create table activation.sends (customer_id varchar, sent_on date, run_id varchar)")
        con.execute(
            "insert into activation.sends values ('C1', date '2025-12-30', 'r0'), ('C2', date '2025-12-31', 'r0')"
        )
    with open_warehouse(path) as warehouse:
        assert warehouse.read("identity_quality")["customers"].tolist() == [7]
        assert read_models(warehouse, ["identity_quality", "kpi_triangle"])["kpi_triangle"] is None
        with pytest.raises(MissingModel):
            warehouse.read("kpi_triangle")
        with pytest.raises(ValueError):
            warehouse.read("identity_quality where customers > 1")
    day = date(2025, 12, 31)
    with open_warehouse(path, read_only=False) as warehouse:
        sends = pd.DataFrame({"customer_id": ["C3", "C4"], "sent_on": [day, day], "run_id": ["r1", "r1"]})
        assert warehouse.replace_partition("activation.sends", sends, "sent_on", day) == 2
        assert warehouse.replace_partition("activation.sends", sends, "sent_on", day) == 2  # a rerun
        rows = warehouse.read("activation.sends").sort_values("customer_id")
    assert rows["customer_id"].tolist() == ["C1", "C3", "C4"]
    assert rows["run_id"].tolist() == ["r0", "r1", "r1"]
