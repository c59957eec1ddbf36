"""Portable SQL (issue 21): engine differences live only in dispatched macros (macros/portable.sql and the
macros beside it), so the same models build on DuckDB and on Spark.

Every .sql under dbt_project/models and dbt_project/tests (macros are the place for engine SQL), with its
`--` and `{# #}` comments removed, and every unit-test fixture (`format: sql` rows and the values of dict
rows) is searched for the DuckDB-only forms issue 21's Spark run found; each hit is named file:line. The
portable spelling is beside each form.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from siyu.transform import PROJECT_DIR

# (name, pattern, the portable form). Patterns run on SQL with comments removed; literals are kept, so a
# pattern that could match inside a string is written not to (none of these appear in siyu's strings).
FORMS: list[tuple[str, re.Pattern[str], str]] = [
    ("varchar", re.compile(r"\bvarchar\b", re.I), "{{ dbt.type_string() }} (fixtures: string)"),
    ("like ... escape", re.compile(r"\bescape\s+'", re.I), "siyu.like_literal_prefix or a macro"),
    ("// integer division", re.compile(r"(?<![:/'])//(?!/)"), "siyu.integer_divide"),
    ('"from" identifier', re.compile(r'"[A-Za-z_][A-Za-z0-9_]*"'), "adapter.quote('from')"),
    ("read_parquet", re.compile(r"(?<!\.)\bread_parquet\s*\(", re.I), "siyu.read_parquet"),
    ("listagg", re.compile(r"\b(listagg|string_agg|group_concat)\s*\(", re.I), "siyu.sorted_listagg"),
    ("delete+insert", re.compile(r"delete\+insert", re.I), "siyu.incremental_strategy()"),
    (":: cast", re.compile(r"::"), "cast(... as ...)"),
    ("list literal", re.compile(r"(?<![\w\)\]])\[\s*('|\d|\])"), "a dispatched macro (array(...) on Spark)"),
    ("typed literal", re.compile(r"\b(date|timestamp)\s+'", re.I), "cast('...' as date)"),
    (
        "DuckDB-only function",
        re.compile(
            r"(?<!\.)\b(epoch|epoch_ms|strftime|strptime|list_\w+|struct_pack|unnest|regexp_full_match|date_diff|"
            r"date_sub|datediff|date_trunc|generate_series|getvariable|current_localtimestamp|string_split|"
            r"str_split|array_to_string|list|glob|today|regexp_matches|arg_max|arg_min|count_if|hash)\s*\(",
            re.I,
        ),
        "dbt.* cross-database macros or a dispatched siyu macro",
    ),
    (
        "DuckDB-only keyword",
        re.compile(r"\b(qualify|ilike|exclude\s*\(|replace\s*\(\s*\w+\s+as)\b", re.I),
        "standard SQL",
    ),
    ("timezone()", re.compile(r"\btimezone\s*\(", re.I), "siyu.from_unix_seconds / from_source_local_time"),
]

# Forms looked for outside Jinja only: in Jinja, "..." is a string and [...] a list.
SQL_ONLY = {'"from" identifier', "list literal"}
COMMENT_JINJA = re.compile(r"\{#.*?#\}", re.S)
LINE_COMMENT = re.compile(r"--[^\n]*")
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")


def strip_comments(sql: str) -> str:
    """The SQL with {# #} and -- comments blanked, lines kept where they were."""
    sql = COMMENT_JINJA.sub(lambda match: "\n" * match.group(0).count("\n"), sql)
    return LINE_COMMENT.sub("", sql)


def hits(text: str, where: str, first_line: int = 1) -> list[str]:
    found = []
    for number, line in enumerate(strip_comments(text).splitlines(), start=first_line):
        outside_jinja = JINJA.sub("", line)
        for name, pattern, portable in FORMS:
            if pattern.search(outside_jinja if name in SQL_ONLY else line):
                found.append(f"{where}:{number}: {name} (use {portable}): {line.strip()}")
    return found


def sql_files() -> list[Path]:
    roots = [PROJECT_DIR / "models", PROJECT_DIR / "tests"]
    return sorted(path for root in roots if root.exists() for path in root.rglob("*.sql"))


def fixture_hits(path: Path) -> list[str]:
    """Hits in a unit-test file's given and expected rows, named by the line of the file they are on."""
    text = path.read_text()
    lines = text.splitlines()
    found = []
    for test in (yaml.safe_load(text) or {}).get("unit_tests", []):
        fixtures = [*test.get("given", []), test.get("expect", {})]
        for fixture in fixtures:
            rows = fixture.get("rows")
            if fixture.get("format") == "sql" and isinstance(rows, str):
                first = rows.strip().splitlines()[0].strip()
                named = next((i for i, line in enumerate(lines) if f"name: {test['name']}" in line), 0)
                start = next((i for i, line in enumerate(lines) if i > named and first in line), 0)
                found += hits(rows.strip(), f"{path.name}[{test['name']}]", start + 1)
            elif isinstance(rows, list):
                for row in rows:
                    for value in (row or {}).values():
                        if isinstance(value, str):
                            found += [f"{path.name}[{test['name']}] {hit}" for hit in hits(value, "value")]
    return found


def test_models_use_no_duckdb_only_sql():
    found = []
    for path in sql_files():
        found += hits(path.read_text(), str(path.relative_to(PROJECT_DIR)))
    assert not found, "DuckDB-only SQL outside macros (issue 21):\n" + "\n".join(found)


def test_unit_test_fixtures_use_no_duckdb_only_sql():
    files = sorted((PROJECT_DIR / "models").rglob("*.yml"))
    found = []
    for path in files:
        if "unit_tests:" in path.read_text():
            found += fixture_hits(path)
    assert not found, "DuckDB-only SQL in unit-test fixtures (issue 21):\n" + "\n".join(found)


def test_hooks_and_seed_types_use_no_duckdb_only_sql():
    """The on-run hooks of dbt_project.yml and the seeds' column_types are SQL the engine runs too."""
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    found = []
    for hook in ("on-run-start", "on-run-end"):
        for number, statement in enumerate(project.get(hook) or [], start=1):
            found += hits(statement, f"dbt_project.yml {hook}[{number}]")
    for path in sorted((PROJECT_DIR / "seeds").rglob("*.yml")):
        for seed in (yaml.safe_load(path.read_text()) or {}).get("seeds", []):
            for column, data_type in (seed.get("config") or {}).get("column_types", {}).items():
                found += hits(f"cast(x as {data_type})", f"{path.name} {seed['name']}.{column}")
    assert not found, "DuckDB-only SQL in hooks or seed types (issue 21):\n" + "\n".join(found)


@pytest.mark.parametrize(
    "line",
    [
        "cast(x as varchar)",
        "{{ dbt.listagg('x', \"','\", 'order by x') }}",
        "where s like 'fx\\_%' escape '\\'",
        "msgtime // 1000",
        '"from" as sender_id',
        "select * from read_parquet('a.parquet')",
        "string_agg(x, ',')",
        "incremental_strategy='delete+insert'",
        "x::date",
        "['139'] as phones",
        "date '2025-01-01'",
        "timestamp '2025-01-01 10:00:00'",
        "date_trunc('month', paid_at)",
        "epoch(ts)",
        "qualify row_number() over () = 1",
    ],
)
def test_each_form_is_recognised(line):
    assert hits(line, "x"), line


@pytest.mark.parametrize(
    "line",
    [
        "cast(x as {{ dbt.type_string() }})",
        "{{ adapter.quote('from') }} as sender_id",
        "-- msgtime // 1000 in a comment",
        "{# delete+insert in a jinja comment #}",
        "{{ siyu.integer_divide('msgtime', 1000) }}",
        "cast('2025-01-01' as date) as snapshot_date",
        "{{ dbt.date_trunc('month', 'paid_at') }}",
        "select * from {{ siyu.read_parquet(truth_dir ~ '/identifiers.parquet') }}",
        "coalesce(listed[1], x)",
        "'https://example.com/a' as url",
    ],
)
def test_portable_forms_pass(line):
    assert not hits(line, "x"), line
